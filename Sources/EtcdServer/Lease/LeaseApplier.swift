import EtcdProto
import MVCC

/// The lease requests of the log applied to the backend, inside the batch's write transaction
/// (etcd's applierV3 `LeaseGrant`/`LeaseRevoke`/`LeaseCheckpoint` with the lessor's persistence).
/// Depends on the transaction and the configuration only, never on the clock or on memory, so
/// every member (and a re-run of the body after map growth) applies an entry the same way. The
/// in-memory `Lessor` follows after the commit (`Lessor.published`).
struct LeaseApplier: Sendable {
    let store: LeaseStore
    let lessor: Lessor

    var minTTLSeconds: Int64 { lessor.minTTLSeconds }

    /// The KV side's view of the leases in `txn`.
    func index(_ txn: MVCCWriteTxn) -> StoredLeaseIndex {
        StoredLeaseIndex(store: store, txn: txn.backend)
    }

    /// etcd's `Grant`: ID 0 is "not found", a TTL over the maximum is refused, a taken ID is
    /// refused, a TTL below the minimum (0 and negatives included) is raised to it.
    func grant(_ request: LeaseGrantRequest, in txn: inout MVCCWriteTxn) throws -> LeaseGrantResponse {
        if request.id == 0 { throw EtcdError.leaseNotFound }
        if request.ttl > LeaseTable.maxTTLSeconds { throw EtcdError.leaseTTLTooLarge }
        if try store.contains(request.id, in: txn.backend) { throw EtcdError.leaseExists }
        let ttl = max(request.ttl, minTTLSeconds)
        try store.putRecord(Lease(id: request.id, ttl: ttl), in: txn.backend)
        return LeaseGrantResponse(header: ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0), id: request.id, ttl: ttl)
    }

    /// etcd's `Revoke`: deletes every key attached to the lease, in key order, as one revision
    /// (the caller brackets the request), then the lease.
    func revoke(_ request: LeaseRevokeRequest, in txn: inout MVCCWriteTxn) throws -> LeaseRevokeResponse {
        guard try store.contains(request.id, in: txn.backend) else { throw EtcdError.leaseNotFound }
        for key in try store.keys(of: request.id, in: txn.backend) {
            _ = try txn.deleteRange(.single(key))
        }
        try store.detachAll(from: request.id, in: txn.backend)
        try store.deleteRecord(request.id, in: txn.backend)
        var response = LeaseRevokeResponse()
        response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
        return response
    }

    /// etcd's `Checkpoint` (3.4, without checkpoint persistence): nothing durable changes; the
    /// remaining TTLs reach the lessor when the batch is published. An unknown lease is skipped,
    /// as etcd does.
    func checkpoint(_ request: LeaseCheckpointRequest, in txn: inout MVCCWriteTxn) throws -> LeaseCheckpointResponse {
        var response = LeaseCheckpointResponse()
        response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
        return response
    }
}
