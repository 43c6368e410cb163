import Foundation
import Synchronization
import Testing
@testable import Storage

@Suite struct LMDBEnvironmentTests {
    static let mebibyte = 1 << 20

    func withEnvironment(
        mapSizeBytes: Int = 4 << 20, mapSizeBytesMax: Int? = nil, maxReaders: Int = 126,
        _ body: (LMDBEnvironment, TemporaryDirectory) throws -> Void, label: String = #function
    ) throws {
        let dir = TemporaryDirectory(label)
        defer { dir.remove() }
        let env = try LMDBEnvironment(path: dir.appending("db"), mapSizeBytes: mapSizeBytes, mapSizeBytesMax: mapSizeBytesMax, maxReaders: maxReaders)
        defer { env.close() }
        try body(env, dir)
    }

    @Test func putThenGetReturnsACopyAndMissingKeysAreNil() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                try txn.put(db, [UInt8]("a"), [UInt8]("1"))
                try txn.put(db, [UInt8]("b"), [UInt8]("2"))
            }
            try env.read { txn throws in
                #expect(try txn.get(db, [UInt8]("a")) == [UInt8]("1"))
                #expect(try txn.get(db, [UInt8]("b")) == [UInt8]("2"))
                #expect(try txn.get(db, [UInt8]("c")) == nil)
                #expect(try txn.contains(db, [UInt8]("a")))
                #expect(try !txn.contains(db, [UInt8]("zz")))
                #expect(try txn.entryCount(db) == 2)
                let length = try txn.withValue(db, [UInt8]("b")) { $0.count }
                #expect(length == 1)
                #expect(try txn.withValue(db, [UInt8]("nope")) { $0.count } == nil)
            }
        }
    }

    @Test func keysMayBeSlicesOrRawBuffers() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            let backing = [UInt8]("xxkeyxx")
            try env.write { txn throws in
                try txn.put(db, backing[2..<5], [UInt8]("v"))
            }
            try env.read { txn throws in
                let viaRaw = try [UInt8]("key").withUnsafeBytes { try txn.get(db, $0) }
                #expect(viaRaw == [UInt8]("v"))
            }
        }
    }

    @Test func overwriteReplacesAndNoOverwriteRefuses() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                #expect(try txn.put(db, [UInt8]("k"), [UInt8]("one"), noOverwrite: true))
                #expect(try !txn.put(db, [UInt8]("k"), [UInt8]("two"), noOverwrite: true))
                #expect(try txn.get(db, [UInt8]("k")) == [UInt8]("one"))
                try txn.put(db, [UInt8]("k"), [UInt8]("three"))
                #expect(try txn.get(db, [UInt8]("k")) == [UInt8]("three"))
            }
        }
    }

    @Test func deleteRemovesAKeyAndReportsAbsence() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                try txn.put(db, [UInt8]("k"), [UInt8]("v"))
                #expect(try txn.delete(db, [UInt8]("k")))
                #expect(try !txn.delete(db, [UInt8]("k")))
                #expect(try txn.get(db, [UInt8]("k")) == nil)
            }
        }
    }

    @Test func aThrowingWriteClosureAbortsItsTransaction() throws {
        struct Boom: Error {}
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            #expect(throws: Boom.self) {
                try env.write { txn throws in
                    try txn.put(db, [UInt8]("k"), [UInt8]("v"))
                    throw Boom()
                }
            }
            try env.read { txn throws in #expect(try txn.get(db, [UInt8]("k")) == nil) }
        }
    }

    @Test func aReadInsideAWriteSeesTheLastCommitNotTheOpenTransaction() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn in try txn.put(db, [UInt8]("k"), [UInt8]("old")) }
            try env.write { txn throws in
                try txn.put(db, [UInt8]("k"), [UInt8]("new"))
                let seen = try env.read { try $0.get(db, [UInt8]("k")) }
                #expect(seen == [UInt8]("old"))
            }
            try env.read { txn throws in #expect(try txn.get(db, [UInt8]("k")) == [UInt8]("new")) }
        }
    }

    @Test func keysLongerThanTheLimitAreRejectedWithATypedError() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            #expect(LMDBEnvironment.maxKeyBytes == 511)
            try env.write { txn throws in
                try txn.put(db, [UInt8](repeating: 1, count: LMDBEnvironment.maxKeyBytes), [UInt8]("ok"))
                #expect(throws: LMDBError.keyTooLong(bytes: 512)) {
                    try txn.put(db, [UInt8](repeating: 1, count: 512), [UInt8]("no"))
                }
                #expect(throws: LMDBError.keyTooLong(bytes: 0)) {
                    try txn.put(db, [UInt8](), [UInt8]("no"))
                }
            }
        }
    }

    @Test func reserveLetsTheCallerFillTheValueInPlace() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                try txn.reserve(db, [UInt8]("k"), count: 5) { buffer in
                    for i in 0..<5 { buffer[i] = UInt8(0x61 + i) }
                }
            }
            try env.read { txn throws in #expect(try txn.get(db, [UInt8]("k")) == [UInt8]("abcde")) }
        }
    }

    @Test func dropEmptiesADatabaseAndKeepsItUsable() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                for i in 0..<100 { try txn.put(db, bigEndianBytes(UInt64(i)), [UInt8]("v")) }
            }
            try env.write { txn throws in
                try txn.drop(db)
                #expect(try txn.entryCount(db) == 0)
                try txn.put(db, [UInt8]("again"), [UInt8]("v"))
            }
            try env.read { txn throws in #expect(try txn.entryCount(db) == 1) }
        }
    }

    // MARK: cursors

    @Test func cursorsWalkKeysInByteOrderBothWays() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            let keys = ["b", "a", "ab", "c", "\u{7f}", "ba"]
            try env.write { txn in for k in keys { try txn.put(db, [UInt8](k), [UInt8]("v" + k)) } }
            let sorted = keys.map { [UInt8]($0) }.sorted { $0.lexicographicallyPrecedes($1) }
            try env.read { txn throws in
                try txn.withCursor(db) { cursor throws in
                    var forward: [[UInt8]] = []
                    while try cursor.next() {
                        forward.append(cursor.keyBytes)
                        #expect(cursor.valueBytes == [UInt8]("v") + cursor.keyBytes)
                    }
                    #expect(forward == sorted)
                }
                try txn.withCursor(db) { cursor throws in
                    var backward: [[UInt8]] = []
                    var more = try cursor.last()
                    while more {
                        backward.append(cursor.keyBytes)
                        more = try cursor.prev()
                    }
                    #expect(backward == sorted.reversed())
                    #expect(try cursor.first())
                    #expect(cursor.keyBytes == [UInt8]("a"))
                }
            }
        }
    }

    @Test func seekFindsTheFirstKeyAtOrAfterAndExactMatchesOnly() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn in for k in ["apple", "banana", "cherry"] { try txn.put(db, [UInt8](k), [UInt8](k.uppercased())) } }
            try env.read { txn throws in
                try txn.withCursor(db) { cursor throws in
                    #expect(try cursor.seek(atOrAfter: [UInt8]("b")))
                    #expect(cursor.keyBytes == [UInt8]("banana"))
                    #expect(cursor.valueBytes == [UInt8]("BANANA"))
                    #expect(try cursor.next())
                    #expect(cursor.keyBytes == [UInt8]("cherry"))
                    #expect(try !cursor.seek(atOrAfter: [UInt8]("d")))
                    #expect(!cursor.isPositioned)
                    #expect(try cursor.seek(exact: [UInt8]("cherry")))
                    #expect(cursor.valueBytes == [UInt8]("CHERRY"))
                    #expect(try !cursor.seek(exact: [UInt8]("cher")))
                }
            }
        }
    }

    @Test func deletingAtTheCursorWhileWalkingVisitsEveryOtherItemOnce() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "kv")
            try env.write { txn throws in
                for i in 0..<1000 { try txn.put(db, bigEndianBytes(UInt64(i)), [UInt8]("v")) }
                var visited = 0
                try txn.withCursor(db) { cursor throws in
                    while try cursor.next() {
                        visited += 1
                        let i = cursor.key.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian
                        if i % 2 == 0 { try cursor.deleteCurrent() }
                    }
                }
                #expect(visited == 1000)
                #expect(try txn.entryCount(db) == 500)
                #expect(try txn.get(db, bigEndianBytes(2)) == nil)
                #expect(try txn.get(db, bigEndianBytes(3)) != nil)
            }
        }
    }

    // MARK: dupSort

    @Test func dupSortKeepsSortedValuesPerKeyAndCursorsMoveWithinAndAcrossKeys() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "index", dupSort: true)
            try env.write { txn throws in
                for (k, v) in [("a", "3"), ("a", "1"), ("a", "2"), ("b", "9"), ("c", "5"), ("c", "4")] {
                    try txn.put(db, [UInt8](k), [UInt8](v))
                }
                // Adding a pair already present: refused with noDuplicateData.
                #expect(try !txn.put(db, [UInt8]("a"), [UInt8]("2"), options: .noDuplicateData))
            }
            try env.read { txn throws in
                #expect(try txn.entryCount(db) == 6)
                #expect(try txn.get(db, [UInt8]("a")) == [UInt8]("1"))
                try txn.withCursor(db) { c throws in
                    var all: [String] = []
                    while try c.next() { all.append(String(decoding: c.key, as: UTF8.self) + String(decoding: c.value, as: UTF8.self)) }
                    #expect(all == ["a1", "a2", "a3", "b9", "c4", "c5"])

                    #expect(try c.seek(exact: [UInt8]("a")))
                    #expect(try c.duplicateCount() == 3)
                    #expect(try c.lastDup())
                    #expect(c.keyBytes == [UInt8]("a") && c.valueBytes == [UInt8]("3"))
                    #expect(try !c.nextDup())
                    #expect(try c.firstDup())
                    #expect(c.keyBytes == [UInt8]("a") && c.valueBytes == [UInt8]("1"))
                    #expect(try c.nextDup())
                    #expect(c.valueBytes == [UInt8]("2"))
                    #expect(try c.prevDup())
                    #expect(c.valueBytes == [UInt8]("1"))
                    #expect(try c.nextNoDup())
                    #expect(c.keyBytes == [UInt8]("b") && c.valueBytes == [UInt8]("9"))
                    #expect(try c.nextNoDup())
                    #expect(c.keyBytes == [UInt8]("c") && c.valueBytes == [UInt8]("4"))
                    #expect(try c.prevNoDup())
                    #expect(c.keyBytes == [UInt8]("b"))
                    #expect(try c.prevNoDup())
                    #expect(c.keyBytes == [UInt8]("a") && c.valueBytes == [UInt8]("3"))
                    #expect(try !c.nextNoDup() || c.keyBytes == [UInt8]("b"))
                }
            }
        }
    }

    @Test func getBothRangeLandsOnTheFirstValueAtOrAfterWithinTheKey() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "revs", dupSort: true, dupFixed: true)
            try env.write { txn throws in
                for rev in [10, 20, 30] as [UInt64] { try txn.put(db, [UInt8]("k"), bigEndianBytes(rev)) }
                try txn.put(db, [UInt8]("l"), bigEndianBytes(5))
            }
            try env.read { txn throws in
                try txn.withCursor(db) { c throws in
                    #expect(try c.seekDup(key: [UInt8]("k"), atOrAfter: bigEndianBytes(15)))
                    #expect(c.keyBytes == [UInt8]("k") && c.valueBytes == bigEndianBytes(20))
                    #expect(try c.seekDup(key: [UInt8]("k"), atOrAfter: bigEndianBytes(20)))
                    #expect(c.valueBytes == bigEndianBytes(20))
                    #expect(try c.seekDup(key: [UInt8]("k"), atOrAfter: bigEndianBytes(0)))
                    #expect(c.valueBytes == bigEndianBytes(10))
                    // Past the key's last value: not found (it does not spill into the next key).
                    #expect(try !c.seekDup(key: [UInt8]("k"), atOrAfter: bigEndianBytes(31)))
                    #expect(try !c.seekDup(key: [UInt8]("j"), atOrAfter: bigEndianBytes(0)))
                    #expect(try c.seekDup(key: [UInt8]("k"), exact: bigEndianBytes(30)))
                    #expect(try !c.seekDup(key: [UInt8]("k"), exact: bigEndianBytes(25)))
                }
            }
        }
    }

    @Test func deletingOneDuplicateLeavesTheOthers() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "index", dupSort: true)
            try env.write { txn throws in
                for v in ["1", "2", "3"] { try txn.put(db, [UInt8]("k"), [UInt8](v)) }
                #expect(try txn.delete(db, [UInt8]("k"), value: [UInt8]("2")))
                #expect(try !txn.delete(db, [UInt8]("k"), value: [UInt8]("2")))
                #expect(try txn.entryCount(db) == 2)
                try txn.withCursor(db) { c throws in
                    #expect(try c.seek(exact: [UInt8]("k")))
                    try c.deleteCurrent(allDuplicates: true)
                }
                #expect(try txn.entryCount(db) == 0)
            }
        }
    }

    @Test func appendLoadsSortedDataAndRejectsOutOfOrderKeys() throws {
        try withEnvironment { env, _ in
            let db = try env.database(named: "log")
            let dups = try env.database(named: "dups", dupSort: true)
            try env.write { txn throws in
                for i in 1...10_000 as ClosedRange<UInt64> {
                    try txn.put(db, bigEndianBytes(i), [UInt8]("entry"), options: .append)
                }
                for i in 1...100 as ClosedRange<UInt64> {
                    try txn.put(dups, [UInt8]("k"), bigEndianBytes(i), options: .appendDuplicate)
                }
                #expect(throws: LMDBError.self) {
                    try txn.put(db, bigEndianBytes(5), [UInt8]("late"), options: .append)
                }
            }
            try env.read { txn throws in
                #expect(try txn.entryCount(db) == 10_000)
                #expect(try txn.entryCount(dups) == 100)
            }
        }
    }

    // MARK: environment

    @Test func dataSurvivesCloseAndReopen() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("db")
        do {
            let env = try LMDBEnvironment(path: path, mapSizeBytes: 1 << 20)
            let db = try env.database(named: "kv")
            try env.write { try $0.put(db, [UInt8]("k"), [UInt8]("v")) }
            try env.sync()
            env.close()
        }
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: path + "-lock"))
        let env = try LMDBEnvironment(path: path, mapSizeBytes: 1 << 20)
        defer { env.close() }
        let db = try env.database(named: "kv")
        try env.read { txn throws in #expect(try txn.get(db, [UInt8]("k")) == [UInt8]("v")) }
    }

    @Test func theSameFileCannotBeOpenedTwiceInOneProcess() throws {
        try withEnvironment { env, dir in
            #expect(throws: LMDBError.self) {
                _ = try LMDBEnvironment(path: dir.path + "/./db", mapSizeBytes: 1 << 20)
            }
        }
    }

    @Test func theMapGrowsWhenWritesFillIt() throws {
        try withEnvironment(mapSizeBytes: 256 << 10, mapSizeBytesMax: 64 << 20) { env, _ in
            let db = try env.database(named: "kv")
            let initial = try env.sizes
            #expect(initial.mapBytes == 256 << 10)
            let value = [UInt8](repeating: 0xAB, count: 1000)
            // One big transaction (hits MDB_MAP_FULL inside, retried) and many small ones
            // (proactive growth after commits).
            var runs = 0
            try env.write { txn throws in
                runs += 1
                for i in 0..<2000 { try txn.put(db, bigEndianBytes(UInt64(i)), value) }
            }
            #expect(runs > 1)
            for batch in 0..<20 {
                try env.write { txn throws in
                    for i in 0..<200 { try txn.put(db, bigEndianBytes(UInt64(10_000 + batch * 200 + i)), value) }
                }
            }
            let grown = try env.sizes
            #expect(grown.mapBytes > initial.mapBytes)
            #expect(grown.usedBytes > 4 << 20)
            #expect(grown.usedBytes <= grown.mapBytes)
            #expect(grown.fileBytes >= grown.usedBytes - grown.pageBytes)
            try env.read { txn throws in #expect(try txn.entryCount(db) == 6000) }
        }
    }

    @Test func writesBeyondTheMaximumMapSizeFailWithMapFullAndLeaveTheEnvironmentUsable() throws {
        try withEnvironment(mapSizeBytes: 256 << 10, mapSizeBytesMax: 1 << 20) { env, _ in
            let db = try env.database(named: "kv")
            let value = [UInt8](repeating: 1, count: 4000)
            #expect(throws: LMDBError.mapFull(mapSizeBytesMax: 1 << 20)) {
                try env.write { txn throws in
                    for i in 0..<1000 { try txn.put(db, bigEndianBytes(UInt64(i)), value) }
                }
            }
            try env.write { try $0.put(db, [UInt8]("small"), [UInt8]("ok")) }
            try env.read { txn throws in #expect(try txn.get(db, [UInt8]("small")) == [UInt8]("ok")) }
        }
    }

    @Test func manySequentialReadsReuseAFewReaderSlots() throws {
        try withEnvironment(maxReaders: 4) { env, _ in
            let db = try env.database(named: "kv")
            try env.write { try $0.put(db, [UInt8]("k"), [UInt8]("v")) }
            for _ in 0..<10_000 {
                _ = try env.read { try $0.get(db, [UInt8]("k")) }
            }
            #expect(try env.sizes.readerSlotsUsed <= 4)
        }
    }

    @Test func readersOnSeveralThreadsSeeConsistentSnapshotsWhileTheWriterCommitsAndGrowsTheMap() throws {
        try withEnvironment(mapSizeBytes: 128 << 10, mapSizeBytesMax: 256 << 20) { env, _ in
            let db = try env.database(named: "kv")
            // Invariant kept by every commit: keys "a" and "b" hold the same counter, and key
            // "n" the number of filler keys written so far (which grow the map).
            try env.write { txn throws in
                try txn.put(db, [UInt8]("a"), bigEndianBytes(0))
                try txn.put(db, [UInt8]("b"), bigEndianBytes(0))
            }
            let commits = 300
            let failures = Atomic<Int>(0)
            let readsDone = Atomic<Int>(0)
            let writerDone = Atomic<Bool>(false)
            let filler = [UInt8](repeating: 7, count: 2000)
            let writer: @Sendable () -> Void = {
                // Start once the readers run, so commits and map growth overlap their reads.
                let start = DispatchTime.now().uptimeNanoseconds
                while readsDone.load(ordering: .relaxed) < 3 && DispatchTime.now().uptimeNanoseconds - start < 5_000_000_000 { sched_yield() }
                do {
                    for i in 1...commits {
                        try env.write { txn throws in
                            try txn.put(db, [UInt8]("a"), bigEndianBytes(UInt64(i)))
                            for j in 0..<10 { try txn.put(db, bigEndianBytes(UInt64(i * 100 + j)), filler) }
                            try txn.put(db, [UInt8]("b"), bigEndianBytes(UInt64(i)))
                        }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
                writerDone.store(true, ordering: .releasing)
            }
            let reader: @Sendable () -> Void = {
                var last: UInt64 = 0
                repeat {
                    do {
                        let (a, b) = try env.read { txn throws in
                            (try txn.get(db, [UInt8]("a"))!, try txn.get(db, [UInt8]("b"))!)
                        }
                        let counter = a.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).bigEndian }
                        if a != b || counter < last { failures.add(1, ordering: .relaxed) }
                        last = counter
                        readsDone.add(1, ordering: .relaxed)
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                } while !writerDone.load(ordering: .acquiring)
            }
            runOnThreads([writer, reader, reader, reader])
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(readsDone.load(ordering: .relaxed) > 0)
            #expect(try env.sizes.mapBytes > 128 << 10)
            try env.read { txn throws in
                #expect(try txn.get(db, [UInt8]("b")) == bigEndianBytes(UInt64(commits)))
            }
        }
    }

    @Test func aCompactCopyHoldsTheSameDataInNoMoreSpace() throws {
        try withEnvironment(mapSizeBytes: 16 << 20) { env, dir in
            let db = try env.database(named: "kv")
            let value = [UInt8](repeating: 3, count: 500)
            try env.write { txn in for i in 0..<5000 { try txn.put(db, bigEndianBytes(UInt64(i)), value) } }
            try env.write { txn in for i in 0..<4900 { try txn.delete(db, bigEndianBytes(UInt64(i))) } }
            let copyPath = dir.appending("copy")
            try env.copy(to: copyPath, compact: true)
            #expect(throws: LMDBError.self) { try env.copy(to: copyPath, compact: true) }  // exists
            let used = try env.sizes.usedBytes
            let copy = try LMDBEnvironment(path: copyPath, mapSizeBytes: 16 << 20)
            defer { copy.close() }
            let copiedDB = try copy.database(named: "kv")
            try copy.read { txn throws in
                #expect(try txn.entryCount(copiedDB) == 100)
                #expect(try txn.get(copiedDB, bigEndianBytes(4999)) == value)
            }
            #expect(try copy.sizes.usedBytes < used)
        }
    }
}
