import MVCC
import Storage
import Testing

/// `MVCCReadView.hashKV`: etcd's HashByRev. Equality with a real etcd's numbers is shown by
/// Tests/Integration/test_hashkv.py; here, the rules that do not need an etcd.
@Suite struct KVHashTests {
    func hash(_ t: TestStore, _ rev: Int64) throws -> KVHash {
        try t.store.read { try $0.hashKV(revision: rev) }
    }

    @Test func anEmptyStoreHashesTheBucketNameAlone() throws {
        let t = try TestStore()
        let h = try hash(t, 0)
        #expect(h.hash == CRC32C.checksum(Array("key".utf8)))
        #expect(h.currentRevision == 1 && h.compactRevision == -1 && h.revision == 1)
    }

    @Test func aPastRevisionHashesWhatWasThereThenAndLaterWritesDoNotChangeIt() throws {
        let t = try TestStore()
        try t.put("a", "1")
        try t.put("b", "2")
        let atThree = try hash(t, 0).hash
        try t.put("a", "again")
        _ = try t.delete("b")
        #expect(try hash(t, 3).hash == atThree)
        #expect(try hash(t, 0).hash != atThree)
        #expect(try hash(t, 0).hash == hash(t, 5).hash)
    }

    @Test func badRevisionsGetEtcdsErrorsInEtcdsOrder() throws {
        let t = try TestStore()
        for i in 0..<5 { try t.put("k", "\(i)") }
        try t.store.write { txn in _ = try txn.compact(to: 4) }
        // etcd refuses only revisions below the compacted one.
        #expect(throws: Never.self) { try hash(t, 4) }
        #expect(throws: MVCCError.compacted) { try hash(t, 3) }
        #expect(throws: MVCCError.compacted) { try hash(t, 1) }
        #expect(throws: MVCCError.futureRevision) { try hash(t, 7) }
        #expect(try hash(t, 5).compactRevision == 4)
    }

    @Test func aCompactionKeepsTheHashOfWhatItCompactedAndHashKVAnswersItForThatRevision() throws {
        let t = try TestStore()
        for i in 0..<5 { try t.put("k", "\(i)") }
        let before = try hash(t, 4)
        try t.store.write { txn in _ = try txn.compact(to: 4) }
        let stored = try #require(t.store.compactionHashes.hash(forRequestedRevision: 4))
        #expect(stored.hash == before.hash && stored.compactRevision == -1)
        // Answered from the stored hash (against the compacted revision of its time), not again.
        try t.put("k", "later")
        let answered = try t.store.hashKV(revision: 4)
        #expect(answered.hash == before.hash && answered.compactRevision == -1 && answered.currentRevision == 7)
        #expect(try t.store.hashKV(revision: 6).compactRevision == 4)
    }

    @Test func aCompactionToRevisionZeroIsWhatHashKVOfRevisionZeroAnswersAfterwardsAsInEtcd() throws {
        let t = try TestStore()
        let empty = try hash(t, 0).hash
        try t.store.write { txn in _ = try txn.compact(to: 0) }
        try t.put("k", "v")
        #expect(try t.store.hashKV(revision: 0).hash == empty)
        #expect(try t.store.hashKV(revision: 2).hash != empty)
    }

    @Test func onlyTheTenNewestCompactionHashesAreKept() throws {
        let t = try TestStore()
        for i in 1...12 {
            try t.put("k", "\(i)")
            try t.store.write { txn in _ = try txn.compact(to: Int64(i + 1)) }
        }
        #expect(t.store.compactionHashes.all.map(\.revision) == Array(4...13))
    }

    @Test func aTombstoneAtTheCompactedRevisionDoesNotCountWhetherOrNotCompactionKeptIt() throws {
        let t = try TestStore()
        try t.put("a", "1")
        try t.put("b", "1")
        _ = try t.delete("a")  // revision 4
        let beforeCompaction = try t.store.read { view in try view.hashKV(revision: 4) }
        try t.store.write { txn in _ = try txn.compact(to: 4) }
        let after = try hash(t, 4)
        // Before: nothing compacted, the tombstone counts. After: it does not, whatever the store kept.
        #expect(after.compactRevision == 4)
        #expect(after.hash != beforeCompaction.hash)
        try t.put("c", "1")
        #expect(try hash(t, 5).hash != after.hash)
    }
}
