import EtcdProto
import Testing
@testable import EtcdServer

/// etcd's gRPC-layer checks (`v3rpc/key.go`), one claim each.
@Suite struct RequestValidationTests {
    func put(_ k: String, _ v: String = "v") -> RequestOp {
        var op = RequestOp()
        op.request = .requestPut(PutRequest(key: Array(k.utf8), value: Array(v.utf8)))
        return op
    }

    func del(_ k: String, _ end: String = "") -> RequestOp {
        var d = DeleteRangeRequest()
        d.key = Array(k.utf8)
        d.rangeEnd = Array(end.utf8)
        var op = RequestOp()
        op.request = .requestDeleteRange(d)
        return op
    }

    func txn(_ success: [RequestOp], _ failure: [RequestOp] = []) -> RequestOp {
        var t = TxnRequest()
        t.success = success
        t.failure = failure
        var op = RequestOp()
        op.request = .requestTxn(t)
        return op
    }

    func check(_ success: [RequestOp], _ failure: [RequestOp] = [], maxOps: Int = 128) -> EtcdError? {
        var t = TxnRequest()
        t.success = success
        t.failure = failure
        do {
            try RequestValidation.check(t, maxTxnOps: maxOps)
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyKeysAreRefusedEverywhere() {
        #expect(throws: EtcdError.emptyKey) { try RequestValidation.check(RangeRequest(key: [])) }
        #expect(throws: EtcdError.emptyKey) { try RequestValidation.check(PutRequest(key: [], value: [1])) }
        #expect(check([put("")]) == .emptyKey)
        var c = Compare()
        c.key = []
        var t = TxnRequest()
        t.compare = [c]
        #expect(throws: EtcdError.emptyKey) { try RequestValidation.check(t, maxTxnOps: 128) }
    }

    @Test func ignoreValueWithAValueAndIgnoreLeaseWithALeaseAreRefused() {
        #expect(throws: EtcdError.valueProvided) { try RequestValidation.check(PutRequest(key: [1], value: [1], ignoreValue: true)) }
        #expect(throws: EtcdError.leaseProvided) { try RequestValidation.check(PutRequest(key: [1], value: [], lease: 5, ignoreLease: true)) }
    }

    /// etcd 3.5.16 checks no sort values at its edge; its applier sorts with a nil sorter (and
    /// panics) only for an unknown target sorted ASCEND/DESCEND (NONE with a target other than
    /// KEY means ASCEND). That case alone is refused; the others are served in key order.
    @Test func onlyAnUnknownSortTargetThatWouldBeSortedIsRefused() throws {
        func check(order: Int32, target: Int32) -> EtcdError? {
            var r = RangeRequest(key: [1])
            r.sortOrderRaw = order
            r.sortTargetRaw = target
            do {
                try RequestValidation.check(r)
                try KVApplier.checkSortOption(r)
                return nil
            } catch { return error }
        }
        #expect(check(order: 7, target: 0) == nil)
        #expect(check(order: -1, target: 3) == nil)
        #expect(check(order: 7, target: 9) == nil)
        #expect(check(order: 0, target: 9) == .invalidSortOption)
        #expect(check(order: 1, target: 9) == .invalidSortOption)
        #expect(check(order: 2, target: -5) == .invalidSortOption)
    }

    @Test func moreOpsThanMaxTxnOpsInAnyListIsTooMany() {
        #expect(check((0..<128).map { put("k\($0)") }) == nil)
        #expect(check((0..<129).map { put("k\($0)") }) == .tooManyOps)
        #expect(check([], (0..<3).map { put("k\($0)") }, maxOps: 2) == .tooManyOps)
    }

    @Test func theSameKeyPutTwiceInOneBranchIsADuplicate() {
        #expect(check([put("a"), put("a")]) == .duplicateKey)
        #expect(check([put("a")], [put("a")]) == nil)
    }

    @Test func aPutInsideADeletedRangeIsADuplicateButOverlappingDeletesAreNot() {
        #expect(check([del("a", "c"), put("b")]) == .duplicateKey)
        #expect(check([del("a"), put("a")]) == .duplicateKey)
        #expect(check([del("a", "c"), del("b", "d")]) == nil)
        #expect(check([del("a", "c"), put("c")]) == nil)
    }

    @Test func nestedThenAndElseBranchesMayPutTheSameKeyButNotTheParent() {
        #expect(check([txn([put("x")], [put("x")])]) == nil)
        #expect(check([txn([put("x")]), put("x")]) == .duplicateKey)
        #expect(check([txn([put("x")]), del("w", "y")]) == .duplicateKey)
    }

    @Test func anEmptyRequestOpIsKeyNotFound() {
        #expect(check([RequestOp()]) == .keyNotFound)
    }
}

@Suite struct KeySizeValidationTests {
    /// etcd stores keys of any length up to the request limit; LMDB's index limit is ours to hide.
    @Test func putKeysLongerThanTheBackendIndexesAreAccepted() {
        #expect(throws: Never.self) { try RequestValidation.check(PutRequest(key: [UInt8](repeating: 1, count: 512), value: [])) }
        #expect(throws: Never.self) { try RequestValidation.check(PutRequest(key: [UInt8](repeating: 1, count: 1 << 20), value: [])) }
        #expect(throws: EtcdError.emptyKey) { try RequestValidation.check(PutRequest(key: [], value: [])) }
    }
}
