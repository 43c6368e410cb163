import EtcdProto
import MVCC

/// etcd's KV semantics (`etcdserver/apply.go`, applierV3backend) over MVCC: Range with its
/// sort/limit/filter rules, Put with ignore_value/ignore_lease/prev_kv, DeleteRange, Txn with
/// compares evaluated before any write and nested txns, Compaction.
///
/// Stateless; the reads run on any thread against a snapshot, the writes on the apply thread
/// against the batch's write txn.
enum KVApplier {
    // MARK: Range

    static func range(_ r: RangeRequest, on view: some MVCCRangeable) throws -> RangeResponse {
        try checkSortOption(r)
        // etcd fetches one more than the limit to know whether there are more; a limit of 0 or
        // below means none. Go's `limit + 1` wraps at Int64.max to a negative limit, i.e. none:
        // the same answer as here, without the overflow.
        var limit = 0
        if r.sortOrderRaw == RangeRequest.SortOrder.none.rawValue
            && r.minModRevision == 0 && r.maxModRevision == 0
            && r.minCreateRevision == 0 && r.maxCreateRevision == 0
            && r.limit > 0 && r.limit < Int64.max
        {
            limit = Int(r.limit) + 1
        }
        let result = try view.range(
            KeyRange(key: r.key, rangeEnd: r.rangeEnd),
            options: RangeOptions(limit: limit, revision: r.revision, countOnly: r.countOnly))
        var kvs = result.kvs
        if r.maxModRevision != 0 { kvs.removeAll { $0.modRevision > r.maxModRevision } }
        if r.minModRevision != 0 { kvs.removeAll { $0.modRevision < r.minModRevision } }
        if r.maxCreateRevision != 0 { kvs.removeAll { $0.createRevision > r.maxCreateRevision } }
        if r.minCreateRevision != 0 { kvs.removeAll { $0.createRevision < r.minCreateRevision } }

        // etcd sorts only for ASCEND and DESCEND; another order value leaves key order.
        if let order = effectiveSortOrder(r), order != .none, let target = r.sortTarget {
            sort(&kvs, by: target, descending: order == .descend)
        }
        var response = RangeResponse()
        if r.limit > 0 && Int64(kvs.count) > r.limit {
            kvs.removeLast(kvs.count - Int(r.limit))
            response.more = true
        }
        if r.keysOnly {
            for i in kvs.indices { kvs[i].value = [] }
        }
        response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: result.revision, raftTerm: 0)
        response.count = Int64(result.count)
        response.kvs = kvs
        return response
    }

    /// The order etcd's applier sorts in: a target other than KEY with order NONE sorts
    /// ascending; nil for an order value outside the enum (etcd then leaves key order).
    private static func effectiveSortOrder(_ r: RangeRequest) -> RangeRequest.SortOrder? {
        guard let order = r.sortOrder else { return nil }
        if order == .none && r.sortTargetRaw != RangeRequest.SortTarget.key.rawValue { return .ascend }
        return order
    }

    /// etcd accepts any sort values at its gRPC edge; its applier then sorts with a nil sorter
    /// (and panics, etcd 3.5.1 and 3.5.16 alike) when the target is outside the enum and the
    /// order to sort in is ASCEND or DESCEND. That one case answers "invalid sort option" here,
    /// before anything is applied; every other combination is served as etcd serves it.
    static func checkSortOption(_ r: RangeRequest) throws(EtcdError) {
        guard r.sortTarget == nil, let order = effectiveSortOrder(r), order != .none else { return }
        throw .invalidSortOption
    }

    /// etcd's sort: Go's `sort.Sort` (not stable) with its `Less` per target, `(a - b) < 0` on
    /// the integers as Go computes it (wrapping), and `sort.Reverse` for DESCEND. `GoSort`
    /// repeats Go's algorithm step for step, so keys that compare equal (one txn's keys share a
    /// create revision) come out in etcd's order too.
    private static func sort(_ kvs: inout [KeyValue], by target: RangeRequest.SortTarget, descending: Bool) {
        let less: (KeyValue, KeyValue) -> Bool
        switch target {
        case .key: less = { KeyRangeCompare.less($0.key, $1.key) }
        case .version: less = { ($0.version &- $1.version) < 0 }
        case .create: less = { ($0.createRevision &- $1.createRevision) < 0 }
        case .mod: less = { ($0.modRevision &- $1.modRevision) < 0 }
        case .value: less = { KeyRangeCompare.less($0.value, $1.value) }
        }
        GoSort.sort(&kvs, less: descending ? { less($1, $0) } : less)
    }

    // MARK: Put / DeleteRange

    static func put(_ p: PutRequest, in txn: inout MVCCWriteTxn, leases: any LeaseIndex) throws -> PutResponse {
        if p.lease != 0, try !leases.leaseExists(p.lease) { throw EtcdError.leaseNotFound }
        var value = p.value
        var lease = p.lease
        var previous: KeyValue? = nil
        if p.ignoreValue || p.ignoreLease || p.prevKV {
            previous = try txn.get(p.key)
        }
        if p.ignoreValue || p.ignoreLease {
            guard let previous else { throw EtcdError.keyNotFound }
            if p.ignoreValue { value = previous.value }
            if p.ignoreLease { lease = previous.lease }
        }
        let replaced = try txn.put(key: p.key, value: value, lease: lease)
        let replacedLease = replaced?.lease ?? 0
        if lease != 0 || replacedLease != 0 {
            try leases.keyPut(p.key, lease: lease, previousLease: replacedLease)
        }
        var response = PutResponse()
        response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.writeRevision, raftTerm: 0)
        if p.prevKV { response.prevKV = previous }
        return response
    }

    static func deleteRange(_ d: DeleteRangeRequest, in txn: inout MVCCWriteTxn, leases: any LeaseIndex) throws -> DeleteRangeResponse {
        let deleted = try txn.deleteRange(KeyRange(key: d.key, rangeEnd: d.rangeEnd))
        try leases.keysDeleted(deleted)
        var response = DeleteRangeResponse()
        response.deleted = Int64(deleted.count)
        if d.prevKV { response.prevKVs = deleted }
        response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
        return response
    }

    // MARK: Txn

    /// etcd's `isTxnSerializable`: every op of both branches is a serializable range (a nested
    /// txn is not).
    static func isSerializable(_ t: TxnRequest) -> Bool {
        (t.success + t.failure).allSatisfy { op in
            if case .requestRange(let r)? = op.request { return r.serializable }
            return false
        }
    }

    /// etcd's `isTxnReadonly`: every op of both branches is a range. A nested txn (even one that
    /// only reads) or an empty op makes the txn a write: it goes through the log, and a raised
    /// CORRUPT alarm refuses it, as etcd does.
    static func isReadOnly(_ t: TxnRequest) -> Bool {
        (t.success + t.failure).allSatisfy { op in
            if case .requestRange? = op.request { return true }
            return false
        }
    }

    /// Whether a branch puts at its top level: etcd's quota cost (`costTxn`) is positive exactly
    /// then, and only such a txn is refused while NOSPACE is raised. etcd does not look into
    /// nested txns (their puts cost nothing), so neither does this: a full backend refuses what
    /// etcd's refuses, no more.
    static func hasPut(_ t: TxnRequest) -> Bool {
        (t.success + t.failure).contains { op in
            if case .requestPut? = op.request { return true }
            return false
        }
    }

    /// The branch taken at each txn level, depth first (etcd's `compareToPath`), evaluated on the
    /// state before any of the txn's writes.
    static func comparePath(_ t: TxnRequest, on view: some MVCCRangeable) throws -> [Bool] {
        var path = [try compares(t.compare, on: view)]
        for op in path[0] ? t.success : t.failure {
            if case .requestTxn(let nested)? = op.request {
                path.append(contentsOf: try comparePath(nested, on: view))
            }
        }
        return path
    }

    private static func compares(_ compares: [Compare], on view: some MVCCRangeable) throws -> Bool {
        for c in compares where try !compare(c, on: view) { return false }
        return true
    }

    private static func compare(_ c: Compare, on view: some MVCCRangeable) throws -> Bool {
        let result: RangeResult
        do {
            result = try view.range(KeyRange(key: c.key, rangeEnd: c.rangeEnd), options: RangeOptions())
        } catch {
            return false
        }
        if result.kvs.isEmpty {
            if c.target == .value { return false }
            return compareKV(c, KeyValue())
        }
        return result.kvs.allSatisfy { compareKV(c, $0) }
    }

    private static func compareKV(_ c: Compare, _ kv: KeyValue) -> Bool {
        // A target outside the enum compares as equal (etcd's switch has no default).
        let order: Int
        switch c.target {
        case nil:
            order = 0
        case .value?:
            var wanted: [UInt8] = []
            if case .value(let v)? = c.targetUnion { wanted = v }
            order = KeyRangeCompare.compare(kv.value, wanted)
        case .create?:
            var v: Int64 = 0
            if case .createRevision(let x)? = c.targetUnion { v = x }
            order = kv.createRevision < v ? -1 : (kv.createRevision > v ? 1 : 0)
        case .mod?:
            var v: Int64 = 0
            if case .modRevision(let x)? = c.targetUnion { v = x }
            order = kv.modRevision < v ? -1 : (kv.modRevision > v ? 1 : 0)
        case .version?:
            var v: Int64 = 0
            if case .version(let x)? = c.targetUnion { v = x }
            order = kv.version < v ? -1 : (kv.version > v ? 1 : 0)
        case .lease?:
            var v: Int64 = 0
            if case .lease(let x)? = c.targetUnion { v = x }
            order = kv.lease < v ? -1 : (kv.lease > v ? 1 : 0)
        }
        switch c.result {
        case .equal?: return order == 0
        case .notEqual?: return order != 0
        case .greater?: return order > 0
        case .less?: return order < 0
        case nil: return true
        }
    }

    /// Checks, before anything is written, what etcd checks (`checkRequests`): puts on the path
    /// name existing leases and, with ignore_value/ignore_lease, existing keys; ranges on the
    /// path name revisions that are neither future nor compacted. `leases` is needed when
    /// `isWrite`.
    static func checkPath(_ t: TxnRequest, path: inout ArraySlice<Bool>, on view: some MVCCRangeable,
                          isWrite: Bool, leases: (any LeaseIndex)?) throws {
        // etcd's order: every put of the taken branches first, then every range (so a put's
        // "key not found" wins over a range's "future revision").
        var putPath = path
        if isWrite { try checkPuts(t, path: &putPath, on: view, leases: leases) }
        try checkRanges(t, path: &path, on: view)
    }

    private static func checkPuts(_ t: TxnRequest, path: inout ArraySlice<Bool>, on view: some MVCCRangeable,
                                  leases: (any LeaseIndex)?) throws {
        let taken = path.removeFirst()
        for op in taken ? t.success : t.failure {
            switch op.request {
            case .requestPut(let p)?:
                try MVCCWriteTxn.checkStorable(p.key)
                if p.ignoreValue || p.ignoreLease {
                    let existing = try view.range(.single(p.key), options: RangeOptions())
                    if existing.kvs.isEmpty { throw EtcdError.keyNotFound }
                }
                if p.lease != 0, let leases, try !leases.leaseExists(p.lease) { throw EtcdError.leaseNotFound }
            case .requestTxn(let nested)?:
                try checkPuts(nested, path: &path, on: view, leases: leases)
            default:
                break
            }
        }
    }

    private static func checkRanges(_ t: TxnRequest, path: inout ArraySlice<Bool>, on view: some MVCCRangeable) throws {
        let taken = path.removeFirst()
        for op in taken ? t.success : t.failure {
            switch op.request {
            case .requestRange(let r)?:
                try checkSortOption(r)
                if r.revision == 0 { break }
                if r.revision > view.rangeRevision { throw MVCCError.futureRevision }
                if r.revision < view.compactedRevision { throw MVCCError.compacted }
            case .requestTxn(let nested)?:
                try checkRanges(nested, path: &path, on: view)
            default:
                break
            }
        }
    }

    /// Runs the chosen branches in the write txn; the caller brackets the request.
    static func applyTxn(_ t: TxnRequest, path: inout ArraySlice<Bool>, in txn: inout MVCCWriteTxn,
                         leases: any LeaseIndex) throws -> TxnResponse {
        let taken = path.removeFirst()
        var response = TxnResponse()
        response.succeeded = taken
        response.header = ResponseHeader()
        for op in taken ? t.success : t.failure {
            var out = ResponseOp()
            switch op.request {
            case .requestRange(let r)?:
                out.response = .responseRange(try range(r, on: txn))
            case .requestPut(let p)?:
                out.response = .responsePut(try put(p, in: &txn, leases: leases))
            case .requestDeleteRange(let d)?:
                out.response = .responseDeleteRange(try deleteRange(d, in: &txn, leases: leases))
            case .requestTxn(let nested)?:
                out.response = .responseTxn(try applyTxn(nested, path: &path, in: &txn, leases: leases))
            case nil:
                break
            }
            response.responses.append(out)
        }
        return response
    }

    /// A read-only txn served from a snapshot (no log entry), as etcd serves them.
    static func readOnlyTxn(_ t: TxnRequest, on view: some MVCCRangeable) throws -> TxnResponse {
        let pathArray = try comparePath(t, on: view)
        var path = pathArray[...]
        try checkPath(t, path: &path, on: view, isWrite: false, leases: nil)
        path = pathArray[...]
        return try readOnlyBranch(t, path: &path, on: view)
    }

    private static func readOnlyBranch(_ t: TxnRequest, path: inout ArraySlice<Bool>, on view: some MVCCRangeable) throws -> TxnResponse {
        let taken = path.removeFirst()
        var response = TxnResponse()
        response.succeeded = taken
        response.header = ResponseHeader()
        for op in taken ? t.success : t.failure {
            var out = ResponseOp()
            switch op.request {
            case .requestRange(let r)?: out.response = .responseRange(try range(r, on: view))
            case .requestTxn(let nested)?: out.response = .responseTxn(try readOnlyBranch(nested, path: &path, on: view))
            default: break
            }
            response.responses.append(out)
        }
        return response
    }
}

/// Byte-string order (Go's bytes.Compare).
enum KeyRangeCompare {
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in KeyRange.compare(x, y) } }
    }

    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { compare(a, b) < 0 }
}
