/// The role a member plays in its current term.
public enum RaftRole: Sendable, Equatable, CustomStringConvertible {
    case follower
    /// Asking whether it would win, without raising the term (PreVote).
    case preCandidate
    case candidate
    case leader

    public var description: String {
        switch self {
        case .follower: "StateFollower"
        case .preCandidate: "StatePreCandidate"
        case .candidate: "StateCandidate"
        case .leader: "StateLeader"
        }
    }
}

/// The volatile state worth telling the application about: who leads and what this member is.
/// Not persisted.
public struct SoftState: Equatable, Sendable {
    public var leader: MemberID
    public var role: RaftRole

    public init(leader: MemberID, role: RaftRole) {
        self.leader = leader
        self.role = role
    }
}
