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
            log = try WriteAheadLog.open(directory: walDir, segmentBytes: Self.segmentBytes).log
        } else {
            log = try WriteAheadLog.create(directory: walDir, metadata: [UInt8]("crash"), segmentBytes: Self.segmentBytes)
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
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = ["--testing-library", "swift-testing", "--filter", "walCrashChildWriter"]
            var childEnvironment = environment
            childEnvironment[Self.childKey] = "\(walDir)|\(rng.next())"
            child.environment = childEnvironment
            let pipe = Pipe()
            child.standardOutput = pipe
            child.standardError = FileHandle.nullDevice
            try child.run()
            let delayMilliseconds = UInt32.random(in: 150...700, using: &rng)
            usleep(delayMilliseconds * 1000)
            kill(child.processIdentifier, SIGKILL)
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            child.waitUntilExit()
            let reported = String(decoding: output, as: UTF8.self).split(separator: "\n")
                .compactMap { $0.hasPrefix("SYNCED ") ? UInt64($0.dropFirst(7)) : nil }
            if let last = reported.last {
                #expect(last > highestSynced, "seed \(seed) round \(round): indexes go forward")
                highestSynced = last
                roundsWithWrites += 1
            }

            var roundRepairs: [WALRepair] = []
            let (log, contents) = try WriteAheadLog.open(directory: walDir, segmentBytes: Self.segmentBytes) { roundRepairs.append($0) }
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
                let (fromSnapshot, afterSnapshot) = try WriteAheadLog.open(directory: walDir, fromSnapshot: marker, segmentBytes: Self.segmentBytes)
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
}
