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
        #expect(h.currentRevision == 1 && h.compactedRevision == -1)
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
        #expect(throws: MVCCError.compacted) { try hash(t, 4) }
        #expect(throws: MVCCError.compacted) { try hash(t, 1) }
        #expect(throws: MVCCError.futureRevision) { try hash(t, 7) }
        #expect(try hash(t, 5).compactedRevision == 4)
    }
}
