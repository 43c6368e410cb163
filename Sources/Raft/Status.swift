import EtcdProto

/// A snapshot of a member's state, for monitoring and for the server's own decisions
/// (e.g. whether a learner is caught up enough to promote).
public struct Status: Sendable, Equatable {
    public var id: MemberID
    public var term: Term
    public var vote: MemberID
    public var commit: LogIndex
    public var applied: LogIndex
    public var lastIndex: LogIndex
    public var leader: MemberID
    public var role: RaftRole
    public var isLearner: Bool
    /// The member a leadership transfer is under way to, if any.
    public var leadTransferee: MemberID
    public var confState: ConfState
    /// Each member's replication progress; only on the leader (empty otherwise).
    public var progress: [MemberID: ProgressStatus]
}

/// The leader's view of one member's replication.
public struct ProgressStatus: Sendable, Equatable {
    public var match: LogIndex
    public var next: LogIndex
    public var state: ProgressState
    public var isLearner: Bool
    public var recentActive: Bool
    public var pendingSnapshot: LogIndex
    public var inflightMessages: Int
    public var isPaused: Bool

    init(_ pr: Progress) {
        match = pr.match
        next = pr.next
        state = pr.state
        isLearner = pr.isLearner
        recentActive = pr.recentActive
        pendingSnapshot = pr.pendingSnapshot
        inflightMessages = pr.inflights.count
        isPaused = pr.isPaused
    }
}

/// The outcome of sending a snapshot, reported with `RawNode.reportSnapshot`.
public enum SnapshotStatus: Sendable, Equatable {
    case finished
    case failed
}
