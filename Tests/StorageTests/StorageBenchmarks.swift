import EtcdProto
import Foundation
import Synchronization
import Testing
@testable import Storage

/// Throughput numbers, printed, never asserted. Run with
/// `SWETCD_STORAGE_BENCH=1 swiftb test -c release --filter StorageBenchmarks`
/// (debug builds measure the compiler, not the code). Files go to the system temp directory,
/// which is on the same disk as the data directory here.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SWETCD_STORAGE_BENCH"] != nil), .serialized)
struct StorageBenchmarks {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func report(_ line: String) {
        print("BENCH \(line)")
    }

    @Test func walAppendAndFdatasync() throws {
        let entryBytes = 300
        for zeroFill in [false, true] {
        for batchSize in [1, 10, 100, 1000] {
            let dir = TemporaryDirectory("bench\(batchSize)")
            defer { dir.remove() }
            let log = try WriteAheadLog.create(directory: dir.appending("wal"), metadata: [1, 2, 3], options: WALOptions(zeroFillSegments: zeroFill))
            var index: UInt64 = 0
            func batch() -> [Entry] {
                (0..<batchSize).map { _ in
                    index += 1
                    return Entry(term: 2, index: index, data: [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: entryBytes))
                }
            }
            for _ in 0..<20 {  // warm-up: segment creation, buffer growth
                try log.append(entries: batch(), hardState: HardState(term: 2, vote: 1, commit: index))
                try log.sync()
            }
            var latencies: [UInt64] = []
            let deadline = Self.now() + 2_000_000_000
            let start = Self.now()
            var entries = 0
            var appendNanos: UInt64 = 0
            while Self.now() < deadline && entries < 2_000_000 {
                let b = batch()  // building the entries is the caller's cost, not timed
                let t0 = Self.now()
                try log.append(entries: b, hardState: HardState(term: 2, vote: 1, commit: index))
                let t1 = Self.now()
                try log.sync()
                let t2 = Self.now()
                appendNanos += t1 - t0
                latencies.append(t2 - t0)
                entries += batchSize
            }
            let elapsed = Double(latencies.reduce(0, +)) / 1e9
            _ = start
            latencies.sort()
            let p50 = Double(latencies[latencies.count / 2]) / 1e6
            let p99 = Double(latencies[latencies.count * 99 / 100]) / 1e6
            let megabytes = Double(entries * entryBytes) / 1e6
            Self.report(String(
                format: "WAL append+fdatasync %@ batch=%4d entry=%dB: %9.0f entries/s %7.2f MB/s %7.0f syncs/s  p50 %.2f ms p99 %.2f ms  (append alone %.2f us/entry, segments %d)",
                zeroFill ? "zero-filled" : "fallocated ", batchSize, entryBytes, Double(entries) / elapsed, megabytes / elapsed, Double(latencies.count) / elapsed, p50, p99,
                Double(appendNanos) / 1e3 / Double(entries), log.segmentFileNames.count))
            try log.close()
        }
        }
    }

    @Test func fdatasyncIntoFallocatedVersusZeroFilledFiles() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let payload = [UInt8](repeating: 7, count: 32 << 10)
        for mode in ["fallocate", "zero-filled"] {
            let path = dir.appending(mode)
            let fd = try POSIXFile.open(path, O_RDWR | O_CREAT)
            defer { POSIXFile.close(fd) }
            let size = 64 << 20
            if mode == "fallocate" {
                try POSIXFile.preallocate(fd, size, path: path)
            } else {
                let zeros = [UInt8](repeating: 0, count: 1 << 20)
                for i in 0..<(size >> 20) { try zeros.withUnsafeBytes { try POSIXFile.pwriteAll(fd, $0, offset: i << 20, path: path) } }
            }
            try POSIXFile.fsync(fd, path: path)
            var offset = 0
            let count = 300
            let t0 = Self.now()
            for _ in 0..<count {
                try payload.withUnsafeBytes { try POSIXFile.pwriteAll(fd, $0, offset: offset, path: path) }
                try POSIXFile.fdatasync(fd, path: path)
                offset += payload.count
            }
            let each = Double(Self.now() - t0) / 1e6 / Double(count)
            Self.report(String(format: "raw pwrite(32 KiB)+fdatasync into a %@ file: %.2f ms each", mode, each))
        }
    }

    @Test func crc32cThroughput() {
        let data = [UInt8](repeating: 0x5A, count: 1 << 20)
        var crc: UInt32 = 0
        let rounds = 200
        let t0 = Self.now()
        for _ in 0..<rounds { crc = data.withUnsafeBytes { CRC32C.update(crc, $0) } }
        let seconds = Double(Self.now() - t0) / 1e9
        Self.report(String(format: "CRC32C slicing-by-8: %.0f MB/s (crc %08x)", Double(rounds) / seconds * 1.048576, crc))
    }

    @Test func lmdbWritesAndReads() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: 64 << 20, mapSizeBytesMax: 1 << 30)
        defer { env.close() }
        let db = try env.database(named: "kv")
        let value = [UInt8](repeating: 1, count: 300)
        let keys = 200_000
        var t0 = Self.now()
        for batch in 0..<(keys / 100) {
            try env.write { txn in
                for i in 0..<100 { try txn.put(db, bigEndianBytes(UInt64(batch * 100 + i) &* 0x9E37_79B9_7F4A_7C15), value) }
            }
        }
        var seconds = Double(Self.now() - t0) / 1e9
        Self.report(String(format: "LMDB put, 100 per write txn (random keys, 300 B): %.0f puts/s", Double(keys) / seconds))
        let reads = 500_000
        t0 = Self.now()
        var found = 0
        for i in 0..<reads {
            found += try env.read { txn in try txn.withValue(db, bigEndianBytes(UInt64(i % keys) &* 0x9E37_79B9_7F4A_7C15)) { $0.count } ?? 0 }
        }
        seconds = Double(Self.now() - t0) / 1e9
        Self.report(String(format: "LMDB read txn + get, one per txn, 1 thread: %.0f reads/s (%d bytes)", Double(reads) / seconds, found))
        let threads = 2
        let perThread = 250_000
        let total = Atomic<Int>(0)
        t0 = Self.now()
        runOnThreads((0..<threads).map { thread in
            { @Sendable in
                var sum = 0
                for i in 0..<perThread {
                    sum += (try? env.read { txn in try txn.withValue(db, bigEndianBytes(UInt64((i * 7 + thread) % keys) &* 0x9E37_79B9_7F4A_7C15)) { $0.count } ?? 0 }) ?? 0
                }
                total.add(sum, ordering: .relaxed)
            }
        })
        seconds = Double(Self.now() - t0) / 1e9
        Self.report(String(format: "LMDB read txn + get, %d threads: %.0f reads/s", threads, Double(threads * perThread) / seconds))
        let sizes = try env.sizes
        Self.report("LMDB sizes after \(keys) keys: map \(sizes.mapBytes), used \(sizes.usedBytes), file \(sizes.fileBytes)")
    }
}
