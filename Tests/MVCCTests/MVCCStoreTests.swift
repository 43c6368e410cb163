import EtcdProto
import MVCC
import Testing

@Suite struct MVCCStoreTests {
    func s(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func anEmptyStoreIsAtRevisionOne() throws {
        let t = try TestStore()
        #expect(t.store.meta.currentRevision == 1)
        #expect(try t.range("a").count == 0)
    }

    @Test func putsBumpTheRevisionAndKeepCreateRevisionAcrossUpdates() throws {
        let t = try TestStore()
        try t.put("foo", "1")
        try t.put("foo", "2")
        let kv = try t.range("foo").kvs[0]
        #expect(kv.createRevision == 2 && kv.modRevision == 3 && kv.version == 2 && s(kv.value) == "2")
        #expect(t.store.meta.currentRevision == 3)
    }

    @Test func changesInOneRequestShareOneRevision() throws {
        let t = try TestStore()
        try t.request { txn in
            try txn.put(key: Array("a".utf8), value: [1], lease: 0)
            try txn.put(key: Array("b".utf8), value: [2], lease: 7)
        }
        let r = try t.range("a", "c")
        #expect(r.kvs.map(\.modRevision) == [2, 2])
        #expect(r.kvs[1].lease == 7)
        #expect(r.revision == 2)
    }

    @Test func aRequestThatChangesNothingDoesNotBumpTheRevision() throws {
        let t = try TestStore()
        try t.put("a", "1")
        #expect(try t.delete("zzz") == 0)
        #expect(t.store.meta.currentRevision == 2)
    }

    @Test func deleteWritesATombstoneAndALaterPutStartsANewGeneration() throws {
        let t = try TestStore()
        try t.put("k", "1")  // 2
        try t.put("k", "2")  // 3
        #expect(try t.delete("k") == 1)  // 4
        #expect(try t.range("k").count == 0)
        try t.put("k", "3")  // 5
        let kv = try t.range("k").kvs[0]
        #expect(kv.createRevision == 5 && kv.version == 1)
        #expect(s(try t.range("k", rev: 3).kvs[0].value) == "2")
        #expect(try t.range("k", rev: 4).count == 0)
    }

    @Test func rangeEndSelectsSingleKeyIntervalOrEverythingFromKey() throws {
        let t = try TestStore()
        for k in ["a", "ab", "b", "c"] { try t.put(k, k) }
        #expect(try t.range("a").kvs.map { s($0.key) } == ["a"])
        #expect(try t.range("a", "b").kvs.map { s($0.key) } == ["a", "ab"])
        #expect(try t.store.read { try $0.range(KeyRange(key: Array("ab".utf8), rangeEnd: [0]), options: RangeOptions()) }.kvs.map { s($0.key) } == ["ab", "b", "c"])
        #expect(try t.store.read { try $0.range(KeyRange(key: [0], rangeEnd: [0]), options: RangeOptions()) }.count == 4)
        #expect(try t.range("c", "a").count == 0)
    }

    @Test func limitTruncatesButCountIsTheWholeRange() throws {
        let t = try TestStore()
        for i in 0..<10 { try t.put("k\(i)", "v") }
        let r = try t.range("k", "l", limit: 3)
        #expect(r.kvs.count == 3 && r.count == 10)
        let past = try t.range("k", "l", rev: 5, limit: 2)
        #expect(past.kvs.count == 2 && past.count == 4)
    }

    @Test func futureAndCompactedRevisionsAreErrors() throws {
        let t = try TestStore()
        for i in 0..<5 { try t.put("k", "\(i)") }  // revs 2...6
        #expect(throws: MVCCError.futureRevision) { try t.range("k", rev: 7) }
        try t.store.write { txn in _ = try txn.compact(to: 4) }
        #expect(throws: MVCCError.compacted) { try t.range("k", rev: 3) }
        #expect(s(try t.range("k", rev: 4).kvs[0].value) == "2")
        #expect(throws: MVCCError.compacted) { try t.store.write { txn in _ = try txn.compact(to: 4) } }
        #expect(throws: MVCCError.futureRevision) { try t.store.write { txn in _ = try txn.compact(to: 99) } }
    }

    @Test func compactionRemovesSupersededRevisionsAndTombstones() throws {
        let t = try TestStore()
        try t.put("a", "1")  // 2
        try t.put("a", "2")  // 3
        try t.put("b", "1")  // 4
        _ = try t.delete("b")  // 5
        try t.put("c", "1")  // 6
        let stats = try t.store.write { txn in try txn.compact(to: 5) }
        // a@2 (superseded), b@4 (superseded by the tombstone); b's tombstone@5 is at the
        // compacted revision itself and stays (etcd 3.5.16).
        #expect(stats.revisionsRemoved == 2)
        #expect(s(try t.range("a", rev: 5).kvs[0].value) == "2")
        #expect(try t.range("b", rev: 5).count == 0)
        #expect(try t.range("a", "z", rev: 6).count == 2)
        // Compacting past it removes the tombstone.
        #expect(try t.store.write { txn in try txn.compact(to: 6) }.revisionsRemoved == 1)
    }

    @Test func stateSurvivesReopeningWithoutAScan() throws {
        let t = try TestStore()
        try t.put("a", "1")
        try t.store.write { txn in
            txn.setApplied(index: 42, term: 3)
            _ = try txn.compact(to: 2)
        }
        try t.reopen()
        #expect(t.store.meta.currentRevision == 2)
        #expect(t.store.meta.compactedRevision == 2)
        #expect(t.store.meta.appliedIndex == 42 && t.store.meta.appliedTerm == 3)
        #expect(s(try t.range("a").kvs[0].value) == "1")
    }

    @Test func readsInsideAWriteRequestSeeItsOwnChanges() throws {
        let t = try TestStore()
        try t.put("a", "1")
        try t.request { txn in
            #expect(txn.readRevision == 2)
            try txn.put(key: Array("a".utf8), value: Array("2".utf8), lease: 0)
            #expect(txn.readRevision == 3)
            let r = try txn.range(.single(Array("a".utf8)), options: RangeOptions())
            #expect(r.kvs[0].value == Array("2".utf8) && r.revision == 3)
        }
    }

    @Test func keysBeyondLMDBsLimitAreStoredAndReadBackWhole() throws {
        let t = try TestStore()
        let long = [UInt8](repeating: 97, count: 600)
        try t.request { _ = try $0.put(key: long, value: [1], lease: 0) }
        try t.request { _ = try $0.put(key: long, value: [2], lease: 0) }
        let kv = try t.store.read { try $0.range(.single(long), options: RangeOptions()) }.kvs
        #expect(kv.map(\.key) == [long] && kv.map(\.value) == [[2]] && kv.map(\.version) == [2])
        #expect(try t.store.read { try $0.range(.single(long), options: RangeOptions(revision: 2)) }.kvs.map(\.value) == [[1]])
        // A key sharing the stored prefix but not the digest is another key.
        let other = long.prefix(BackendKey.inlineBytesMax) + [UInt8](repeating: 98, count: 200)
        #expect(try t.store.read { try $0.range(.single(Array(other)), options: RangeOptions()) }.count == 0)
        #expect(throws: MVCCError.emptyKey) { try t.request { try $0.put(key: [], value: [], lease: 0) } }
    }
}

@Suite struct MVCCLongKeyTests {
    @Test func rangesNamingKeysLongerThanLMDBsLimitAnswerInsteadOfFailing() throws {
        let t = try TestStore()
        try t.put("a", "1")
        try t.put("b", "2")
        let long = [UInt8](repeating: 0x61, count: 700)
        #expect(try t.store.read { try $0.range(.single(long), options: RangeOptions()) }.count == 0)
        let fromLong = try t.store.read { try $0.range(.interval(start: long, end: nil), options: RangeOptions()) }
        #expect(fromLong.kvs.map(\.key) == [Array("b".utf8)])
        let past = try t.store.read { try $0.range(.interval(start: long, end: nil), options: RangeOptions(revision: 2)) }
        #expect(past.count == 0)
        #expect(try t.delete(String(repeating: "a", count: 700)) == 0)
    }
}

/// The previous version a change carries for watchers is the key's version before the request
/// (etcd's watch reads it at `modRevision - 1`), even when the same request changed it earlier.
@Suite struct ChangePreviousVersionTests {
    @Test func aTxnThatPutsThenDeletesAKeyGivesBothChangesTheVersionFromBeforeTheTxn() throws {
        let t = try TestStore()
        try t.put("b", "old")
        let changes = try t.request { txn -> [MVCCChange] in
            let inTxn = try txn.put(key: Array("b".utf8), value: Array("new".utf8), lease: 0)
            #expect(inTxn?.value == Array("old".utf8))
            let deleted = try txn.deleteRange(KeyRange(key: Array("b".utf8), rangeEnd: [0]))
            // What the request itself reads (and a DeleteRange's prev_kvs) is the txn's own write.
            #expect(deleted.map(\.value) == [Array("new".utf8)])
            return txn.changes
        }
        #expect(changes.count == 2)
        #expect(changes.allSatisfy { $0.prevKV?.value == Array("old".utf8) && $0.prevKV?.modRevision == 2 })
    }

    /// etcd's watch skips prev_kv for a create event (`IsCreateEvent`): a txn that deletes a key
    /// and puts it again creates it anew at the txn's revision, so that put has no prev_kv, while
    /// the deletes around it carry the version from before the txn (found by the differential
    /// fuzzer, seed 1026).
    @Test func aKeyDeletedAndPutAgainInOneTxnIsACreateWithoutPreviousVersion() throws {
        let t = try TestStore()
        try t.put("b", "old")
        let changes = try t.request { txn -> [MVCCChange] in
            _ = try txn.deleteRange(KeyRange(key: Array("b".utf8), rangeEnd: []))
            try txn.put(key: Array("b".utf8), value: Array("new".utf8), lease: 0)
            _ = try txn.deleteRange(KeyRange(key: Array("b".utf8), rangeEnd: []))
            return txn.changes
        }
        #expect(changes.map(\.isDelete) == [true, false, true])
        #expect(changes.map { $0.prevKV?.value } == [Array("old".utf8), nil, Array("old".utf8)])
        // Read back from history (a watcher catching up), the put is a create event there too.
        let history = try t.store.read { try $0.history(from: 3, to: 3, limit: 100, withPrevKV: true) }
        #expect(history.changes.map { $0.prevKV?.value } == [Array("old".utf8), nil, Array("old".utf8)])
    }

    @Test func aKeyCreatedAndDeletedInOneTxnHasNoPreviousVersion() throws {
        let t = try TestStore()
        try t.put("a", "1")
        let changes = try t.request { txn -> [MVCCChange] in
            try txn.put(key: Array("a".utf8), value: Array("2".utf8), lease: 0)
            try txn.put(key: Array("c".utf8), value: Array("x".utf8), lease: 0)
            _ = try txn.deleteRange(KeyRange(key: Array("c".utf8), rangeEnd: []))
            return txn.changes
        }
        #expect(changes.map { $0.prevKV?.value } == [Array("1".utf8), nil, nil])
    }
}

/// etcd 3.5.16 keeps a tombstone at exactly the compacted revision (etcd issue 18089): a watch
/// from that revision must still see the delete.
@Suite struct CompactionKeepsTheTombstoneAtItsRevisionTests {
    @Test func theDeleteAtTheCompactedRevisionIsStillInTheHistory() throws {
        let t = try TestStore()
        for v in ["v2", "v3", "v4"] { try t.put("k", v) }
        #expect(try t.delete("k") == 1)  // revision 5
        try t.put("k", "v6")
        try t.store.write { txn in _ = try txn.compact(to: 5) }
        let batch = try t.store.read { try $0.history(from: 5, to: 6, limit: 100, withPrevKV: true) }
        #expect(batch.changes.map(\.isDelete) == [true, false])
        #expect(batch.changes.map(\.kv.modRevision) == [5, 6])
        #expect(batch.changes[1].kv.value == Array("v6".utf8))
        // A later compaction past it removes it.
        try t.store.write { txn in _ = try txn.compact(to: 6) }
        #expect(try t.store.read { try $0.history(from: 6, to: 6, limit: 100, withPrevKV: false) }.changes.count == 1)
        #expect(try t.range("k").kvs.map(\.value) == [Array("v6".utf8)])
    }
}
