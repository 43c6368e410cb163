import Foundation
import Testing

@testable import Storage

/// The bbolt writer against the reader that matters: etcd's own `etcdutl snapshot status` (bbolt's
/// `tx.Check` first, then every bucket's keys and values hashed), when the reference etcd is
/// installed (`../shared/tools/etcd-reference/setup.sh`); and the file's structure on its own.
@Suite struct BboltWriterTests {
    static let etcdutl = NSString(string: "~/.cache/etcd-reference/etcd-3.5.16/etcdutl").expandingTildeInPath

    /// etcd's revision key: 8-byte big-endian main revision, '_', 8-byte sub revision.
    static func revision(_ main: Int64, _ sub: Int64 = 0) -> [UInt8] {
        var out = [UInt8]()
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: main >> Int64(shift))) }
        out.append(UInt8(ascii: "_"))
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: sub >> Int64(shift))) }
        return out
    }

    /// Buckets in bbolt's order, with pairs enough for branch levels and one value spanning pages.
    static func sample() -> [(name: String, pairs: [(key: [UInt8], value: [UInt8])])] {
        var keys: [(key: [UInt8], value: [UInt8])] = []
        for rev in 1...5000 { keys.append((revision(Int64(rev)), Array("value-\(rev)".utf8))) }
        keys.append((revision(5001), [UInt8](repeating: 7, count: 3 * 4096 + 100)))
        return [
            ("alarm", []),
            ("key", keys),
            ("lease", [(Array(repeating: 1, count: 8), Array("lease".utf8))]),
            ("meta", [(Array("consistent_index".utf8), [0, 0, 0, 0, 0, 0, 0, 42]), (Array("term".utf8), [0, 0, 0, 0, 0, 0, 0, 3])]),
        ]
    }

    static func write(_ buckets: [(name: String, pairs: [(key: [UInt8], value: [UInt8])])]) throws -> String {
        let path = NSTemporaryDirectory() + "bbolt-\(UUID().uuidString).db"
        let writer = try BboltWriter(path: path)
        // Any order: the root bucket is sorted when written.
        for b in buckets.reversed() { try writer.addBucket(Array(b.name.utf8), b.pairs) }
        try writer.finish()
        return path
    }

    @Test func metaPagesCarryBboltsMagicAndAValidChecksum() throws {
        let path = try Self.write(Self.sample())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count % 4096 == 0)
        for page in 0..<2 {
            let base = page * 4096
            func u32(_ at: Int) -> UInt32 { bytes[base + at..<base + at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            func u64(_ at: Int) -> UInt64 { bytes[base + at..<base + at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
            #expect(u32(16) == 0xED0C_DAED && u32(20) == 2 && u32(24) == 4096)
            #expect(u64(56) == UInt64(bytes.count / 4096))  // high-water mark: every page is in the file
            #expect(u64(72) == BboltWriter.fnv64a(Array(bytes[base + 16..<base + 72])))
        }
    }

    /// Random stores (seeded): bucket counts, key and value sizes from empty values to values
    /// spanning several pages, written and read back pair for pair, at two page sizes.
    @Test(arguments: [(UInt64(1), 4096), (2, 4096), (3, 16384), (4, 4096), (5, 8192)])
    func randomStoresRoundTripThroughTheWriterAndReader(seed: UInt64, pageSize: Int) throws {
        var rng = SplitMix64(seed: seed)
        var buckets: [[UInt8]: [(key: [UInt8], value: [UInt8])]] = [:]
        for _ in 0..<(1 + Int(rng.next() % 6)) {
            let name = (0..<(1 + Int(rng.next() % 12))).map { _ in UInt8(97 + rng.next() % 26) }
            var pairs: [[UInt8]: [UInt8]] = [:]
            for _ in 0..<Int(rng.next() % 3000) {
                let key = (0..<(1 + Int(rng.next() % 40))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let size = rng.next() % 100 == 0 ? Int(rng.next() % 40_000) : Int(rng.next() % 300)
                pairs[key] = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            buckets[name] = pairs.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        }
        let path = NSTemporaryDirectory() + "bbolt-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try BboltWriter(path: path, pageSize: pageSize)
        for (name, pairs) in buckets { try writer.addBucket(name, pairs) }
        try writer.finish()
        let reader = try BboltReader(path: path)
        #expect(reader.pageSize == pageSize)
        #expect(try reader.bucketNames() == buckets.keys.sorted { $0.lexicographicallyPrecedes($1) })
        for (name, pairs) in buckets {
            var read: [(key: [UInt8], value: [UInt8])] = []
            #expect(try reader.forEach(bucket: name) { read.append(($0, $1)) })
            #expect(read.count == pairs.count)
            #expect(zip(read, pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value })
        }
        #expect(try !reader.forEach(bucket: Array("missing".utf8)) { _, _ in })
    }

    @Test func aTruncatedOrCorruptFileIsRefusedNotTrapped() throws {
        let path = try Self.write(Self.sample())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = path + ".short"
        defer { try? FileManager.default.removeItem(atPath: truncated) }
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: BboltReader.Failure.self) { _ = try BboltReader(path: truncated) }
        // Every byte of a branch or leaf page flipped in turn: reading throws or returns, never traps.
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            var damaged = bytes
            let at = 3 * 4096 + Int(rng.next() % UInt64(bytes.count - 3 * 4096))
            damaged[at] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
            try damaged.write(to: URL(fileURLWithPath: truncated))
            if let reader = try? BboltReader(path: truncated) {
                _ = try? reader.forEach(bucket: Array("key".utf8)) { _, _ in }
            }
        }
    }

    @Test func outOfOrderKeysAreRefused() throws {
        let path = NSTemporaryDirectory() + "bbolt-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try BboltWriter(path: path)
        #expect(throws: BboltWriter.Failure.self) {
            try writer.addBucket(Array("key".utf8), [(key: [2], value: []), (key: [1], value: [])])
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: BboltWriterTests.etcdutl)))
    func etcdutlReadsTheFileAndHashesEveryPair() throws {
        let buckets = Self.sample()
        let path = try Self.write(buckets)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.etcdutl)
        process.arguments = ["snapshot", "status", path, "-w", "json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.terminationStatus == 0, "\(text)")
        struct Status: Decodable { var hash: UInt32; var revision: Int64; var totalKey: Int; var totalSize: Int }
        let status = try JSONDecoder().decode(Status.self, from: Data(text.utf8))
        var hashed = [UInt8]()
        for b in buckets {
            hashed.append(contentsOf: Array(b.name.utf8))
            for p in b.pairs { hashed += p.key + p.value }
        }
        #expect(status.revision == 5001)
        #expect(status.totalKey == buckets.reduce(0) { $0 + $1.pairs.count })
        #expect(status.hash == CRC32C.checksum(hashed))
        #expect(status.totalSize == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
    }
}

