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
    /// A configuration change: what raft is to apply (node ID 0 when membership refused it), and
    /// the refusal its proposer gets.
    case confChange(ConfChange, refusal: EtcdError?)
    /// Member attributes or the cluster version changed.
    case membership
    /// An entry with nothing to answer (a no-op, or a request this version does not apply).
    case none
}

/// A write on its way through the log, waiting for its entry to be applied. Created on any
/// thread, completed once on the raft thread: with the apply result, or with an error when it
/// could not be proposed, timed out, or the member stopped.
final class Proposal: @unchecked Sendable {
    /// The ID the applied entry carries (`RequestHeader.id`, a v2 request's ID, a ConfChange's ID).
    let id: UInt64
    /// The entry payload.
    let data: [UInt8]
    /// The entry type (`.confChange` for membership changes).
    let type: EntryType
    /// The decoded request, when it is one (so applying this member's own entry does not decode it).
    let request: InternalRaftRequest?
    let completion: @Sendable (Result<ApplyResult, EtcdError>) -> Void

    init(request: InternalRaftRequest, data: [UInt8], completion: @escaping @Sendable (Result<ApplyResult, EtcdError>) -> Void) {
        self.id = request.id != 0 ? request.id : (request.header?.id ?? 0)
        precondition(id != 0, "a proposal needs a request ID: its applied entry is found by it")
        self.data = data
        self.type = .normal
        self.request = request
        self.completion = completion
    }

    init(id: UInt64, data: [UInt8], type: EntryType, completion: @escaping @Sendable (Result<ApplyResult, EtcdError>) -> Void) {
        precondition(id != 0, "a proposal needs a request ID: its applied entry is found by it")
        self.id = id
        self.data = data
        self.type = type
        self.request = nil
        self.completion = completion
    }
}
