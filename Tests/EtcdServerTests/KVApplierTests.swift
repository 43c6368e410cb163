import EtcdProto
import Foundation
import MVCC
import Storage
import Testing
@testable import EtcdServer

/// etcd's applier semantics (`etcdserver/apply.go`) over a real LMDB store.
@Suite struct KVApplierTests {
    final class Fixture {
        let dir = NSTemporaryDirectory() + "applier-\(UUID().uuidString)"
        let env: LMDBEnvironment
        let store: MVCCStore

        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            env = try LMDBEnvironment(path: dir + "/db", mapSizeBytes: 32 << 20, maxReaders: 16, maxDatabases: 8)
            store = try MVCCStore(environment: env)
        }

        deinit {
            env.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        func request<R>(_ body: (inout MVCCWriteTxn) throws -> R) throws -> R {
            try store.write { txn in
                txn.beginRequest()
                defer { txn.endRequest() }
                return try body(&txn)
            }
        }

        func put(_ k: String, _ v: String, lease: Int64 = 0) throws {
            _ = try request { try KVApplier.put(PutRequest(key: Array(k.utf8), value: Array(v.utf8), lease: lease), in: &$0, leases: AnyLeaseIndex(exists: true)) }
        }

        func range(_ r: RangeRequest) throws -> RangeResponse {
            try store.read { try KVApplier.range(r, on: $0) }
        }
    }

    func keys(_ r: RangeResponse) -> [String] { r.kvs.map { String(decoding: $0.key, as: UTF8.self) } }

    @Test func limitSetsMoreAndCountIsTheWholeRange() throws {
        let f = try Fixture()
        for k in ["a", "b", "c"] { try f.put(k, k) }
        var r = RangeRequest(key: Array("a".utf8), rangeEnd: Array("z".utf8))
        r.limit = 2
        let got = try f.range(r)
        #expect(keys(got) == ["a", "b"] && got.more && got.count == 3)
        r.limit = 3
        #expect(try f.range(r).more == false)
    }

    @Test func aSortTargetWithoutAnOrderSortsAscending() throws {
        let f = try Fixture()
        try f.put("a", "3")
        try f.put("b", "1")
        try f.put("c", "2")
        var r = RangeRequest(key: Array("a".utf8), rangeEnd: Array("z".utf8))
        r.sortTargetRaw = RangeRequest.SortTarget.value.rawValue
        #expect(keys(try f.range(r)) == ["b", "c", "a"])
        r.sortOrderRaw = RangeRequest.SortOrder.descend.rawValue
        r.limit = 1
        let top = try f.range(r)
        #expect(keys(top) == ["a"] && top.more && top.count == 3)
    }

    @Test func revisionFiltersPruneButDoNotChangeTheCount() throws {
        let f = try Fixture()
        for k in ["a", "b", "c"] { try f.put(k, k) }  // mod revs 2, 3, 4
        var r = RangeRequest(key: Array("a".utf8), rangeEnd: Array("z".utf8))
        r.minModRevision = 3
        let got = try f.range(r)
        #expect(keys(got) == ["b", "c"] && got.count == 3)
    }

    @Test func keysOnlyDropsValuesAndCountOnlyDropsKeyValues() throws {
        let f = try Fixture()
        try f.put("a", "1")
        var r = RangeRequest(key: Array("a".utf8))
        r.keysOnly = true
        #expect(try f.range(r).kvs[0].value.isEmpty)
        r.countOnly = true
        let c = try f.range(r)
        #expect(c.kvs.isEmpty && c.count == 1)
    }

    @Test func ignoreValueKeepsTheValueAndNeedsTheKey() throws {
        let f = try Fixture()
        try f.put("a", "keep", lease: 9)
        let response = try f.request { try KVApplier.put(PutRequest(key: Array("a".utf8), value: [], ignoreValue: true), in: &$0, leases: AnyLeaseIndex(exists: true)) }
        #expect(response.header?.revision == 3)
        let kv = try f.range(RangeRequest(key: Array("a".utf8))).kvs[0]
        #expect(kv.value == Array("keep".utf8) && kv.lease == 0 && kv.version == 2)
        #expect(throws: EtcdError.keyNotFound) {
            try f.request { try KVApplier.put(PutRequest(key: Array("nope".utf8), value: [], ignoreValue: true), in: &$0, leases: AnyLeaseIndex(exists: true)) }
        }
    }

    @Test func putWithAnUnknownLeaseIsLeaseNotFoundAndWritesNothing() throws {
        let f = try Fixture()
        #expect(throws: EtcdError.leaseNotFound) {
            try f.request { try KVApplier.put(PutRequest(key: Array("a".utf8), value: [1], lease: 42), in: &$0, leases: AnyLeaseIndex(exists: false)) }
        }
        #expect(f.store.meta.currentRevision == 1)
    }

    /// etcd checks every put of the taken branches before any range (found by the differential
    /// fuzzer: a range at a future revision listed before a put of a missing key).
    @Test func aPutsKeyNotFoundComesBeforeARangesFutureRevision() throws {
        let f = try Fixture()
        var range = RequestOp()
        range.request = .requestRange(RangeRequest(key: Array("c".utf8), revision: 99))
        var put = RequestOp()
        var p = PutRequest(key: Array("c".utf8), value: [1])
        p.ignoreLease = true
        put.request = .requestPut(p)
        var t = TxnRequest()
        t.success = [range, put]
        #expect(throws: EtcdError.keyNotFound) {
            try f.request { txn in
                var path = [true][...]
                try KVApplier.checkPath(t, path: &path, on: txn, isWrite: true, leases: AnyLeaseIndex(exists: true))
            }
        }
        t.success = [range]
        #expect(throws: MVCCError.futureRevision) {
            try f.request { txn in
                var path = [true][...]
                try KVApplier.checkPath(t, path: &path, on: txn, isWrite: true, leases: AnyLeaseIndex(exists: true))
            }
        }
    }

    @Test func txnComparesSeeTheStateBeforeItsWritesAndNestedBranchesFollowThePath() throws {
        let f = try Fixture()
        try f.put("a", "1")  // rev 2
        // if mod(a) == 2 then { put a=2; txn { if mod(a) == 2 then put b=inner-yes else put b=inner-no } }
        var outer = Compare()
        outer.key = Array("a".utf8)
        outer.targetRaw = Compare.CompareTarget.mod.rawValue
        outer.resultRaw = Compare.CompareResult.equal.rawValue
        outer.targetUnion = .modRevision(2)
        var inner = TxnRequest()
        inner.compare = [outer]
        var yes = RequestOp()
        yes.request = .requestPut(PutRequest(key: Array("b".utf8), value: Array("inner-yes".utf8)))
        var no = RequestOp()
        no.request = .requestPut(PutRequest(key: Array("b".utf8), value: Array("inner-no".utf8)))
        inner.success = [yes]
        inner.failure = [no]
        var t = TxnRequest()
        t.compare = [outer]
        var putA = RequestOp()
        putA.request = .requestPut(PutRequest(key: Array("a".utf8), value: Array("2".utf8)))
        var nested = RequestOp()
        nested.request = .requestTxn(inner)
        t.success = [putA, nested]
        let response = try f.request { txn -> TxnResponse in
            let path = try KVApplier.comparePath(t, on: txn)
            var slice = path[...]
            return try KVApplier.applyTxn(t, path: &slice, in: &txn, leases: AnyLeaseIndex(exists: true))
        }
        #expect(response.succeeded)
        // The nested compare was evaluated before `put a`, so it also took its success branch.
        #expect(try f.range(RangeRequest(key: Array("b".utf8))).kvs[0].value == Array("inner-yes".utf8))
        #expect(f.store.meta.currentRevision == 3)
        let b = try f.range(RangeRequest(key: Array("b".utf8))).kvs[0]
        #expect(b.modRevision == 3)
    }

    @Test func aValueCompareOnAMissingKeyIsFalseButAVersionCompareSeesZero() throws {
        let f = try Fixture()
        var c = Compare()
        c.key = Array("missing".utf8)
        c.targetRaw = Compare.CompareTarget.version.rawValue
        c.resultRaw = Compare.CompareResult.equal.rawValue
        c.targetUnion = .version(0)
        var t = TxnRequest()
        t.compare = [c]
        #expect(try f.store.read { try KVApplier.comparePath(t, on: $0) } == [true])
        c.targetRaw = Compare.CompareTarget.value.rawValue
        c.targetUnion = .value([])
        t.compare = [c]
        #expect(try f.store.read { try KVApplier.comparePath(t, on: $0) } == [false])
    }
}

/// Leases for KV semantics tests that are not about leases: every lease exists (or none does),
/// and no key lists are kept.
struct AnyLeaseIndex: LeaseIndex {
    let exists: Bool
    func leaseExists(_ id: Int64) throws -> Bool { exists }
    func keyPut(_ key: [UInt8], lease: Int64, previousLease: Int64) throws {}
    func keysDeleted(_ deleted: [KeyValue]) throws {}
}
