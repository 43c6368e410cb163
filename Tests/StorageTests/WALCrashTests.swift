import EtcdProto
import Foundation
import Testing
@testable import Storage

/// Crash test: a child process appends and syncs batches and reports each synced index on its
/// stdout; the parent SIGKILLs it at a random moment, reopens the log and checks that every
/// reported index is there with the right contents. The child keeps the same WAL across rounds,
/// so repairs, segment cuts, snapshot markers and releases accumulate.
///
/// The child is this test binary run again with `--filter walCrashChildWriter`, told what to do
/// by the environment (no `fork` of a multithreaded test process). Seed: `SWETCD_CRASH_SEED`
/// (random and printed if unset); rounds: `SWETCD_CRASH_ROUNDS` (default 12).
@Suite struct WALCrashTests {
    static let childKey = "SWETCD_WAL_CRASH_CHILD"
    static let segmentBytes = 64 << 10

    /// Deterministic contents for index `i`, 10...1209 bytes.
    static func data(_ index: UInt64) -> [UInt8] {
        let count = 10 + Int(index &* 7919 % 1200)
        return (0..<count).map { UInt8(truncatingIfNeeded: UInt64($0) &* 131 &+ index) }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment[childKey] != nil))
    func walCrashChildWriter() throws {
        let spec = ProcessInfo.processInfo.environment[Self.childKey]!.split(separator: "|")
        let walDir = String(spec[0])
        var rng = SplitMix64(seed: UInt64(spec[1])!)
        let log: WriteAheadLog
        if WriteAheadLog.exists(directory: walDir) {
            log = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.segmentBytes)).log
        } else {
            log = try WriteAheadLog.create(directory: walDir, metadata: [UInt8]("crash"), options: WALOptions(segmentBytes: Self.segmentBytes))
        }
        var next = log.lastIndex + 1
        while true {
            let count = UInt64.random(in: 1...40, using: &rng)
            let batch = (next..<(next + count)).map { Entry(term: 1, index: $0, data: Self.data($0)) }
            try log.append(entries: batch, hardState: HardState(term: 1, vote: 1, commit: next + count - 1))
            try log.sync()
            next += count
            let line = Array("SYNCED \(next - 1)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }  // unbuffered: survives SIGKILL
            if UInt64.random(in: 0..<25, using: &rng) == 0 {
                try log.saveSnapshotMarker(index: next - 1, term: 1)
                if next > 500 { try log.releaseSegments(before: next - 400, maxSegmentsKept: 2) }
            }
        }
    }

    @Test func everySyncedIndexSurvivesSIGKILLAtRandomMoments() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SWETCD_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let rounds = environment["SWETCD_CRASH_ROUNDS"].flatMap { Int($0) } ?? 12
        print("WAL crash test: seed \(seed), \(rounds) rounds (SWETCD_CRASH_SEED=\(seed) to replay)")
        var rng = SplitMix64(seed: seed)
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = dir.appending("member/wal")
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var highestSynced: UInt64 = 0
        var roundsWithWrites = 0
        var repairs = 0
        for round in 0..<rounds {
            var childEnvironment = environment
            childEnvironment[Self.childKey] = "\(walDir)|\(rng.next())"
            let (pid, output) = try Self.spawn(executable, ["--testing-library", "swift-testing", "--filter", "walCrashChildWriter"], childEnvironment)
            let delayMilliseconds = UInt32.random(in: 150...700, using: &rng)
            usleep(delayMilliseconds * 1000)
            kill(pid, SIGKILL)
            let outputData = output.readDataToEndOfFile()
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            let reportedText = String(decoding: outputData, as: UTF8.self)
            let reported = reportedText.split(separator: "\n")
                .compactMap { $0.hasPrefix("SYNCED ") ? UInt64($0.dropFirst(7)) : nil }
            if let last = reported.last {
                #expect(last > highestSynced, "seed \(seed) round \(round): indexes go forward")
                highestSynced = last
                roundsWithWrites += 1
            }

            var roundRepairs: [WALRepair] = []
            let (log, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.segmentBytes)) { roundRepairs.append($0) }
            repairs += roundRepairs.count
            let lastIndex = contents.entries.last?.index ?? 0
            #expect(lastIndex >= highestSynced, "seed \(seed) round \(round): synced \(highestSynced) but the log ends at \(lastIndex)")
            var contentOK = true
            for entry in contents.entries where entry.data != Self.data(entry.index) || entry.term != 1 { contentOK = false }
            #expect(contentOK, "seed \(seed) round \(round): an entry's contents changed")
            if let marker = contents.lastSnapshot {
                // Release never went past what the newest snapshot needs.
                #expect((contents.entries.first?.index ?? 1) <= marker.index + 1, "seed \(seed) round \(round)")
                try log.close()
                let (fromSnapshot, afterSnapshot) = try WriteAheadLog.open(directory: walDir, fromSnapshot: marker, options: WALOptions(segmentBytes: Self.segmentBytes))
                #expect(afterSnapshot.entries.first.map { $0.index == marker.index + 1 } ?? true, "seed \(seed) round \(round)")
                #expect((afterSnapshot.entries.last?.index ?? marker.index) == max(lastIndex, marker.index))
                try fromSnapshot.close()
            } else {
                #expect(contents.entries.first?.index ?? 1 == 1)
                try log.close()
            }
        }
        print("WAL crash test: seed \(seed): \(roundsWithWrites)/\(rounds) rounds wrote, highest synced index \(highestSynced), \(repairs) torn tails repaired")
        #expect(roundsWithWrites > 0, "seed \(seed): the child writer never reported a sync (did it start?)")
    }

    /// Starts `executable` with stdout on a pipe (returned) and stderr on /dev/null, by
    /// `posix_spawn` (vfork + exec: the child holds copies of our descriptors, such as another
    /// test's WAL lock, only for the instant before exec closes them; Foundation's `Process`
    /// keeps them longer, which made other tests' flocks fail spuriously).
    static func spawn(_ executable: String, _ arguments: [String], _ environment: [String: String]) throws -> (pid_t, FileHandle) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EIO) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO)
        }
        return (pid, FileHandle(fileDescriptor: fds[0], closeOnDealloc: true))
    }
}
