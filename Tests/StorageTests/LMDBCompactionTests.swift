import Foundation
import Synchronization
import Testing
@testable import Storage

/// `LMDBEnvironment.compactInPlace()`: etcd's Defragment on our backend.
@Suite struct LMDBCompactionTests {
    static func key(_ i: Int) -> [UInt8] { Array(String(format: "key-%06d", i).utf8) }

    @Test func theFileShrinksAndEveryRecordAndHandleSurvives() throws {
        let dir = TemporaryDirectory(#function)
        defer { dir.remove() }
        let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: 64 << 20)
        defer { env.close() }
        let kv = try env.database(named: "kv")
        let dups = try env.database(named: "dups", dupSort: true)
        let value = [UInt8](repeating: 0xab, count: 1000)
        try env.write { txn throws in
            for i in 0..<20_000 { try txn.put(kv, Self.key(i), value) }
            try txn.put(dups, [UInt8]("d"), [UInt8]("1"))
            try txn.put(dups, [UInt8]("d"), [UInt8]("2"))
        }
        // Delete nine in ten: the pages go to LMDB's free list; the file keeps its size.
        try env.write { txn throws in
            for i in 0..<20_000 where i % 10 != 0 { _ = try txn.delete(kv, Self.key(i)) }
        }
        let before = try env.sizes.fileBytes
        var stages: [String] = []
        let (reportedBefore, after) = try env.compactInPlace { stages.append($0) }
        #expect(reportedBefore == before)
        #expect(after < before / 4, "\(before) → \(after) bytes")
        #expect(try env.sizes.fileBytes == after)
        #expect(stages.count == 2)
        #expect(!FileManager.default.fileExists(atPath: dir.appending("db.defrag")))
        try env.read { txn throws in
            #expect(try txn.entryCount(kv) == 2_000)
            #expect(try txn.get(kv, Self.key(10)) == value)
            #expect(try txn.get(kv, Self.key(11)) == nil)
            #expect(try txn.entryCount(dups) == 2)
        }
        // Writes go on against the new file, with the same database handles.
        try env.write { txn throws in try txn.put(kv, Self.key(11), [UInt8]("back")) }
        try env.read { txn throws in #expect(try txn.get(kv, Self.key(11)) == [UInt8]("back")) }
    }

    @Test func theCompactedFileIsWhatARestartOpens() throws {
        let dir = TemporaryDirectory(#function)
        defer { dir.remove() }
        do {
            let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: 16 << 20)
            let kv = try env.database(named: "kv")
            try env.write { txn throws in for i in 0..<500 { try txn.put(kv, Self.key(i), Self.key(i)) } }
            try env.compactInPlace()
            try env.write { txn throws in try txn.put(kv, [UInt8]("after"), [UInt8]("yes")) }
            try env.sync()
            env.close()
        }
        let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: 16 << 20)
        defer { env.close() }
        let kv = try env.database(named: "kv")
        try env.read { txn throws in
            #expect(try txn.entryCount(kv) == 501)
            #expect(try txn.get(kv, [UInt8]("after")) == [UInt8]("yes"))
        }
    }

    @Test func readersOnOtherThreadsKeepSeeingConsistentDataThroughTheSwap() throws {
        let dir = TemporaryDirectory(#function)
        defer { dir.remove() }
        let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: 64 << 20)
        defer { env.close() }
        let kv = try env.database(named: "kv")
        try env.write { txn throws in for i in 0..<5_000 { try txn.put(kv, Self.key(i), [UInt8](repeating: 1, count: 500)) } }
        let stop = Atomic(false)
        let reads = Atomic(0)
        let wrong = Atomic(0)
        let readers = (0..<3).map { _ in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    let count = (try? env.read { txn throws in try txn.entryCount(kv) }) ?? -1
                    if count != 5_000 { wrong.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        readers.forEach { $0.start() }
        for _ in 0..<5 { try env.compactInPlace() }
        stop.store(true, ordering: .relaxed)
        while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(reads.load(ordering: .relaxed) > 0)
    }
}
