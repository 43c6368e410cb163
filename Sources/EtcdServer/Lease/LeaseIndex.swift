import EtcdProto
import MVCC
import Storage

/// What a KV write needs from the leases, inside the apply transaction: whether a lease exists
/// (a put naming an unknown lease fails with "requested lease not found"), and keeping each
/// lease's key list in step with the keys' `lease` fields (etcd's mvcc calls `Attach`/`Detach` on
/// every put and delete). Answers depend on the transaction only, never on memory, so applying a
/// batch again (after map growth) or on another member gives the same result.
protocol LeaseIndex {
    func leaseExists(_ id: Int64) throws -> Bool
    /// `key` was written with `lease` over a live version that carried `previousLease`
    /// (0: none, or no live version).
    func keyPut(_ key: [UInt8], lease: Int64, previousLease: Int64) throws
    /// These live versions were deleted.
    func keysDeleted(_ deleted: [KeyValue]) throws
}

/// The index over `LeaseStore`, bound to one write transaction.
struct StoredLeaseIndex: LeaseIndex {
    let store: LeaseStore
    let txn: LMDBTransaction

    func leaseExists(_ id: Int64) throws -> Bool {
        try store.contains(id, in: txn)
    }

    func keyPut(_ key: [UInt8], lease: Int64, previousLease: Int64) throws {
        guard lease != previousLease else { return }
        if previousLease != 0 { try store.detach(key, from: previousLease, in: txn) }
        if lease != 0 { try store.attach(key, to: lease, in: txn) }
    }

    func keysDeleted(_ deleted: [KeyValue]) throws {
        for kv in deleted where kv.lease != 0 {
            try store.detach(kv.key, from: kv.lease, in: txn)
        }
    }
}
