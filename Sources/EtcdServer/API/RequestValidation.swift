import EtcdProto
import Storage

/// The checks etcd's gRPC layer makes before a KV request goes anywhere
/// (`etcdserver/api/v3rpc/key.go`): empty keys, sort options, ignore_value/ignore_lease misuse,
/// txn size and duplicate keys.
enum RequestValidation {
    static func check(_ r: RangeRequest) throws(EtcdError) {
        // etcd 3.5 checks only the key here; sort values are the applier's business
        // (`KVApplier.checkSortOption`).
        if r.key.isEmpty { throw .emptyKey }
    }

    static func check(_ p: PutRequest) throws(EtcdError) {
        // Keys of any length are stored (`BackendKey`); --max-request-bytes bounds them, as in etcd.
        if p.key.isEmpty { throw .emptyKey }
        if p.ignoreValue && !p.value.isEmpty { throw .valueProvided }
        if p.ignoreLease && p.lease != 0 { throw .leaseProvided }
    }

    static func check(_ d: DeleteRangeRequest) throws(EtcdError) {
        if d.key.isEmpty { throw .emptyKey }
    }

    /// `checkTxnRequest` then `checkIntervals` on both branches, as etcd's Txn handler does.
    static func check(_ t: TxnRequest, maxTxnOps: Int) throws(EtcdError) {
        try checkTxn(t, maxTxnOps: maxTxnOps)
        _ = try checkIntervals(t.success)
        _ = try checkIntervals(t.failure)
    }

    private static func checkTxn(_ t: TxnRequest, maxTxnOps: Int) throws(EtcdError) {
        let ops = max(t.compare.count, t.success.count, t.failure.count)
        if ops > maxTxnOps { throw .tooManyOps }
        for c in t.compare where c.key.isEmpty { throw .emptyKey }
        for op in t.success { try checkOp(op, maxTxnOps: maxTxnOps - ops) }
        for op in t.failure { try checkOp(op, maxTxnOps: maxTxnOps - ops) }
    }

    private static func checkOp(_ op: RequestOp, maxTxnOps: Int) throws(EtcdError) {
        switch op.request {
        case .requestRange(let r)?: try check(r)
        case .requestPut(let p)?: try check(p)
        case .requestDeleteRange(let d)?: try check(d)
        case .requestTxn(let t)?: try checkTxn(t, maxTxnOps: maxTxnOps)
        case nil: throw .keyNotFound
        }
    }

    /// A delete's interval as etcd's `adt` sees it: [key, range_end) taken literally (so a
    /// from-key delete with range_end "\0" is empty), or the point `key`.
    private struct Interval {
        var start: [UInt8]
        var end: [UInt8]?

        func contains(_ key: [UInt8]) -> Bool {
            guard let end else { return key == start }
            return !KeyRangeCompare.less(key, start) && KeyRangeCompare.less(key, end)
        }
    }

    /// etcd's `checkIntervals`: within one branch, a key may not be put twice, nor put and
    /// deleted; nested txns' then/else branches are mutually exclusive with each other.
    private static func checkIntervals(_ ops: [RequestOp]) throws(EtcdError) -> (puts: Set<[UInt8]>, dels: [Interval]) {
        var dels: [Interval] = []
        for op in ops {
            if case .requestDeleteRange(let d)? = op.request {
                dels.append(Interval(start: d.key, end: d.rangeEnd.isEmpty ? nil : d.rangeEnd))
            }
        }
        func deleted(_ key: [UInt8]) -> Bool { dels.contains { $0.contains(key) } }
        var puts = Set<[UInt8]>()
        for op in ops {
            guard case .requestTxn(let nested)? = op.request else { continue }
            let (putsThen, delsThen) = try checkIntervals(nested.success)
            let (putsElse, delsElse) = try checkIntervals(nested.failure)
            for k in putsThen {
                if puts.contains(k) || deleted(k) { throw .duplicateKey }
                puts.insert(k)
            }
            for k in putsElse {
                if puts.contains(k) && !putsThen.contains(k) { throw .duplicateKey }
                if deleted(k) { throw .duplicateKey }
                puts.insert(k)
            }
            dels.append(contentsOf: delsThen)
            dels.append(contentsOf: delsElse)
        }
        for op in ops {
            guard case .requestPut(let p)? = op.request else { continue }
            if puts.contains(p.key) || deleted(p.key) { throw .duplicateKey }
            puts.insert(p.key)
        }
        return (puts, dels)
    }
}
