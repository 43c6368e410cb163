import EtcdProto
import Logging
import MVCC

/// Applies one committed log entry to the store (etcd's `applyEntryNormal` + applierV3).
/// Raft thread only. Errors a client caused come back as results; they never stop the apply.
struct Applier {
    let logger: Logger
    /// The membership recorded in snapshots.
    var confState: ConfState
    let alarms: AlarmStore
    /// Lease requests, and the lease side of KV writes (`LeaseStore`).
    let leases: LeaseApplier

    func apply(entry: Entry, proposal: Proposal?, txn: inout MVCCWriteTxn) -> Result<ApplyResult, EtcdError> {
        guard entry.type == .normal, !entry.data.isEmpty else { return .success(.none) }
        let request: InternalRaftRequest
        if let proposal {
            request = proposal.request
        } else {
            do {
                request = try InternalRaftRequest(serializedBytes: entry.data)
            } catch {
                logger.error("cannot decode a log entry", metadata: ["index": "\(entry.index)", "error": "\(error)"])
                return .failure(.other("cannot decode log entry"))
            }
        }
        return apply(request, txn: &txn)
    }

    func apply(_ request: InternalRaftRequest, txn: inout MVCCWriteTxn) -> Result<ApplyResult, EtcdError> {
        txn.beginRequest()
        defer { txn.endRequest() }
        let leaseIndex = leases.index(txn)
        do {
            if let alarm = request.alarm {
                var response = AlarmResponse()
                if let changed = try alarms.apply(alarm, txn: &txn) {
                    response.alarms = [changed]
                    logger.warning("alarm changed", metadata: ["alarm": "\(changed.alarm.map { "\($0)" } ?? "?")", "action": "\(alarm.actionRaw)"])
                }
                return .success(.alarm(response))
            }
            // With NOSPACE raised, etcd's applier refuses everything that can grow the store.
            if alarms.noSpace && (request.put != nil || request.leaseGrant != nil || (request.txn.map { KVApplier.hasPut($0) } ?? false)) {
                return .failure(.noSpace)
            }
            if let put = request.put {
                return .success(.put(try KVApplier.put(put, in: &txn, leases: leaseIndex)))
            }
            if let del = request.deleteRange {
                return .success(.deleteRange(try KVApplier.deleteRange(del, in: &txn, leases: leaseIndex)))
            }
            if let t = request.txn {
                let pathArray = try KVApplier.comparePath(t, on: txn)
                var path = pathArray[...]
                let isWrite = !KVApplier.isReadOnly(t)
                try KVApplier.checkPath(t, path: &path, on: txn, isWrite: isWrite, leases: leaseIndex)
                path = pathArray[...]
                var response = try KVApplier.applyTxn(t, path: &path, in: &txn, leases: leaseIndex)
                response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
                return .success(.txn(response))
            }
            if let grant = request.leaseGrant {
                return .success(.leaseGrant(try leases.grant(grant, in: &txn)))
            }
            if let revoke = request.leaseRevoke {
                return .success(.leaseRevoke(try leases.revoke(revoke, in: &txn)))
            }
            if let checkpoint = request.leaseCheckpoint {
                return .success(.leaseCheckpoint(try leases.checkpoint(checkpoint, in: &txn)))
            }
            if let c = request.compaction {
                let stats = try txn.compact(to: c.revision)
                logger.info("finished scheduled compaction", metadata: [
                    "compact-revision": "\(c.revision)", "keys": "\(stats.keysVisited)", "removed": "\(stats.revisionsRemoved)",
                ])
                var response = CompactionResponse()
                response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: txn.readRevision, raftTerm: 0)
                return .success(.compaction(response))
            }
            return .success(.none)
        } catch let error as EtcdError {
            return .failure(error)
        } catch let error as MVCCError {
            return .failure(EtcdError(error))
        } catch {
            logger.error("apply failed", metadata: ["error": "\(error)"])
            return .failure(.other("\(error)"))
        }
    }
}

extension EtcdError {
    init(_ error: MVCCError) {
        switch error {
        case .compacted: self = .compacted
        case .futureRevision: self = .futureRevision
        case .keyNotFound: self = .keyNotFound
        case .keyTooLarge: self = .requestTooLarge
        case .noSpace: self = .noSpace
        case .backend(let text): self = .other(text)
        }
    }
}
