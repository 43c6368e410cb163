import EtcdProto
import Logging
import MVCC

/// Applies one committed log entry to the store (etcd's `applyEntryNormal` + applierV3).
/// Raft thread only. Errors a client caused come back as results; they never stop the apply,
/// and no entry, whatever it holds, may trap here: what a client sent was checked at the edge,
/// but entries are applied again on replay and (with peers) come from other members, so every
/// check that keeps the arithmetic and the backend safe is made here too.
struct Applier {
    let logger: Logger
    let alarms: AlarmStore
    /// Lease requests, and the lease side of KV writes (`LeaseStore`).
    let leases: LeaseApplier
    /// `--experimental-compaction-batch-limit`: keys examined per compaction batch.
    var compactionBatchLimit = 1000

    /// Applies one committed entry (decoded: `CommittedEntry`) inside the batch's transaction.
    func apply(_ entry: CommittedEntry, index: UInt64, txn: inout MVCCWriteTxn) throws -> Result<ApplyResult, EtcdError> {
        switch entry {
        case .empty:
            return .success(.none)
        case .request(let request):
            if let v2 = request.v2 {
                try MembershipApplier.apply(v2, txn: txn)
                return .success(.membership)
            }
            if let set = request.clusterMemberAttrSet, let attributes = set.memberAttributes {
                try MembershipApplier.applyAttributes(
                    memberID: set.memberID, MemberAttributes(name: attributes.name, clientURLs: attributes.clientURLs), txn: txn)
                return .success(.membership)
            }
            if let set = request.clusterVersionSet {
                try MembershipApplier.applyClusterVersion(set.ver, txn: txn)
                return .success(.membership)
            }
            if let set = request.downgradeInfoSet {
                try MembershipApplier.applyDowngradeInfo(set, txn: txn)
                return .success(.membership)
            }
            return try apply(request, txn: &txn)
        case .v2(let request):
            try MembershipApplier.apply(request, txn: txn)
            return .success(.membership)
        case .confChange(let cc):
            let (applied, refusal) = try MembershipApplier.apply(cc, txn: txn)
            if let refusal {
                logger.warning("refused a configuration change", metadata: [
                    "index": "\(index)", "type": "\(cc.type.map { $0.etcdName } ?? "\(cc.typeRaw)")",
                    "member-id": "\(String(cc.nodeID, radix: 16))", "error": "\(refusal.status.message)",
                ])
            }
            return .success(.confChange(applied, refusal: refusal))
        case .confChangeV2:
            // Joint consensus: etcd 3.5 never proposes it, and membership (from which raft's
            // configuration is restored at start-up) could not follow it; every member applies it
            // as a no-op, raft included.
            logger.warning("ignored a joint-consensus configuration change", metadata: ["index": "\(index)"])
            return .success(.none)
        case .undecodable(let why):
            logger.error("cannot decode a log entry", metadata: ["index": "\(index)", "reason": "\(why)"])
            return .failure(.other("etcdserver: cannot decode log entry"))
        }
    }

    /// Applies one request inside the batch's transaction. Client-caused failures (etcd's
    /// errors) come back as `.failure` when nothing was written yet; one that strikes after the
    /// request wrote something throws `ApplyInterrupted`, and the caller runs the batch again
    /// with this entry as a no-op (`BatchApplier`). Backend failures (LMDB, a damaged record)
    /// are rethrown as they are: they fail the batch, not the request.
    func apply(_ request: InternalRaftRequest, txn: inout MVCCWriteTxn) throws -> Result<ApplyResult, EtcdError> {
        txn.beginRequest()
        defer { txn.endRequest() }
        let clientError: EtcdError
        do {
            return .success(try applyRequest(request, txn: &txn))
        } catch let error as EtcdError {
            clientError = error
        } catch let error as MVCCError {
            if case .backend = error { throw error }
            clientError = EtcdError(error)
        }
        if txn.requestHasWritten { throw ApplyInterrupted(error: clientError) }
        return .failure(clientError)
    }

    private func applyRequest(_ request: InternalRaftRequest, txn: inout MVCCWriteTxn) throws -> ApplyResult {
        let leaseIndex = leases.index(txn)
        if let alarm = request.alarm {
            var response = AlarmResponse()
            if let changed = try alarms.apply(alarm, txn: &txn) {
                response.alarms = [changed]
                logger.warning("alarm changed", metadata: ["alarm": "\(changed.alarm.map { "\($0)" } ?? "?")", "action": "\(alarm.actionRaw)"])
            }
            return .alarm(response)
        }
        // Raised alarms restrict writes (etcd's corrupt and capped appliers), as of this
        // transaction: an alarm raised earlier in the same batch counts.
        let grows = request.put != nil || request.leaseGrant != nil || (request.txn.map { KVApplier.hasPut($0) } ?? false)
        let writes = grows || request.deleteRange != nil || request.txn != nil || request.compaction != nil || request.leaseRevoke != nil
        if writes {
            switch try AlarmStore.restriction(txn) {
            case .corrupt: throw EtcdError.corrupt
            case .capped where grows: throw EtcdError.noSpace
            case .capped, .none: break
            }
        }
        if let put = request.put {
            return .put(try KVApplier.put(put, in: &txn, leases: leaseIndex))
        }
        if let del = request.deleteRange {
            return .deleteRange(try KVApplier.deleteRange(del, in: &txn, leases: leaseIndex))
        }
        if let t = request.txn {
            // Every check runs on the state before the txn, before its first write (etcd's
            // `checkRequests`), so a txn fails whole or applies whole.
            let pathArray = try KVApplier.comparePath(t, on: txn)
            var path = pathArray[...]
            let isWrite = !KVApplier.isReadOnly(t)
            try KVApplier.checkPath(t, path: &path, on: txn, isWrite: isWrite, leases: leaseIndex)
            path = pathArray[...]
            var response = try KVApplier.applyTxn(t, path: &path, in: &txn, leases: leaseIndex)
            response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
            return .txn(response)
        }
        if let grant = request.leaseGrant {
            return .leaseGrant(try leases.grant(grant, in: &txn))
        }
        if let revoke = request.leaseRevoke {
            return .leaseRevoke(try leases.revoke(revoke, in: &txn))
        }
        if let checkpoint = request.leaseCheckpoint {
            return .leaseCheckpoint(try leases.checkpoint(checkpoint, in: &txn))
        }
        if let c = request.compaction {
            let stats = try txn.compact(to: c.revision, keysPerBatch: compactionBatchLimit)
            logger.info("finished scheduled compaction", metadata: [
                "compact-revision": "\(c.revision)", "keys": "\(stats.keysVisited)", "removed": "\(stats.revisionsRemoved)",
            ])
            var response = CompactionResponse()
            response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
            return .compaction(response)
        }
        return .none
    }
}

/// A request failed with a client error after it had written to the batch's transaction (a
/// check that should have run first did not). The batch cannot keep half a request: it is
/// run again with this entry applied as a no-op that fails with `error`, which gives the same
/// result on every replay and on every member.
struct ApplyInterrupted: Error {
    let error: EtcdError
}

extension EtcdError {
    init(_ error: MVCCError) {
        switch error {
        case .compacted: self = .compacted
        case .futureRevision: self = .futureRevision
        case .keyNotFound: self = .keyNotFound
        case .keyCollision: self = .other("etcdserver: the key cannot be stored (its digest is another key's)")
        case .emptyKey: self = .emptyKey
        case .noSpace: self = .noSpace
        case .backend(let text): self = .other(text)
        }
    }
}
