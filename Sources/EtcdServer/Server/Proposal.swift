import EtcdProto

/// What applying one log entry produced for the client that proposed it.
enum ApplyResult: Sendable {
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)
    case txn(TxnResponse)
    case compaction(CompactionResponse)
    case alarm(AlarmResponse)
    case leaseGrant(LeaseGrantResponse)
    case leaseRevoke(LeaseRevokeResponse)
    case leaseCheckpoint(LeaseCheckpointResponse)
    /// An entry with nothing to answer (a no-op, or a request this version does not apply).
    case none
}

/// A client write on its way through the log. Created on an event loop, completed on the raft
/// thread after the entry is durable and applied (or failed without being logged).
final class Proposal: @unchecked Sendable {
    let request: InternalRaftRequest
    /// `request` encoded: the payload of the log entry.
    let data: [UInt8]
    let completion: @Sendable (Result<ApplyResult, EtcdError>) -> Void

    init(request: InternalRaftRequest, data: [UInt8], completion: @escaping @Sendable (Result<ApplyResult, EtcdError>) -> Void) {
        self.request = request
        self.data = data
        self.completion = completion
    }
}
