import EtcdProto

/// Something notable a member did, for logs and scenario traces. Events describe decisions
/// (elections, role and configuration changes, refusals), not every message.
public enum RaftEvent: Equatable, Sendable, CustomStringConvertible {
    case becameFollower(MemberID, term: Term, leader: MemberID)
    case becamePreCandidate(MemberID, term: Term)
    case becameCandidate(MemberID, term: Term)
    case becameLeader(MemberID, term: Term)
    case startedElection(MemberID, term: Term)
    /// A message with a higher term made this member adopt it.
    case sawHigherTerm(MemberID, term: Term, messageType: MessageType, from: MemberID, messageTerm: Term)
    case castVote(MemberID, type: MessageType, for: MemberID, term: Term)
    case rejectedVote(MemberID, type: MessageType, from: MemberID, term: Term)
    /// A vote request ignored because a leader was heard from recently (CheckQuorum lease).
    case ignoredVoteInLease(MemberID, type: MessageType, from: MemberID, term: Term)
    case receivedVote(MemberID, type: MessageType, from: MemberID, granted: Bool, term: Term)
    case cannotCampaignPendingConfChange(MemberID, term: Term)
    case cannotCampaignNotVoter(MemberID)
    case steppedDownWithoutQuorum(MemberID, term: Term)
    case removedWhileLeading(MemberID, term: Term)
    case steppedDownRemoved(MemberID, term: Term)
    case switchedConfig(MemberID, String)
    case restoredSnapshot(MemberID, index: LogIndex, term: Term)
    case ignoredSnapshot(MemberID, index: LogIndex, term: Term)
    case droppedProposal(MemberID, ProposalDropReason)
    case refusedConfChange(MemberID, String)
    case transferStarted(MemberID, to: MemberID, term: Term)
    case transferAborted(MemberID, to: MemberID, term: Term)
    case sentTimeoutNow(MemberID, to: MemberID, term: Term)
    case autoLeavingJoint(MemberID)

    public var description: String {
        switch self {
        case let .becameFollower(id, term, leader):
            return leader.isNone ? "\(id) became follower at term \(term)" : "\(id) became follower at term \(term) (leader \(leader))"
        case let .becamePreCandidate(id, term): return "\(id) became pre-candidate at term \(term)"
        case let .becameCandidate(id, term): return "\(id) became candidate at term \(term)"
        case let .becameLeader(id, term): return "\(id) became leader at term \(term)"
        case let .startedElection(id, term): return "\(id) is starting a new election at term \(term)"
        case let .sawHigherTerm(id, term, type, from, mterm):
            return "\(id) [term: \(term)] received a \(type.etcdName) message with higher term from \(from) [term: \(mterm)]"
        case let .castVote(id, type, candidate, term): return "\(id) cast \(type.etcdName) for \(candidate) at term \(term)"
        case let .rejectedVote(id, type, from, term): return "\(id) rejected \(type.etcdName) from \(from) at term \(term)"
        case let .ignoredVoteInLease(id, type, from, term): return "\(id) ignored \(type.etcdName) from \(from) at term \(term): lease is not expired"
        case let .receivedVote(id, type, from, granted, term):
            return "\(id) received \(type.etcdName)\(granted ? "" : " rejection") from \(from) at term \(term)"
        case let .cannotCampaignPendingConfChange(id, term): return "\(id) cannot campaign at term \(term): unapplied configuration changes"
        case let .cannotCampaignNotVoter(id): return "\(id) is not a voter and cannot campaign"
        case let .steppedDownWithoutQuorum(id, term): return "\(id) stepped down to follower since quorum is not active (term \(term))"
        case let .removedWhileLeading(id, term): return "\(id) is no longer a voter: leads term \(term) only until it hands over"
        case let .steppedDownRemoved(id, term): return "\(id) stepped down: no longer a voter (term \(term))"
        case let .switchedConfig(id, cfg): return "\(id) switched to configuration \(cfg)"
        case let .restoredSnapshot(id, index, term): return "\(id) restored snapshot [index: \(index), term: \(term)]"
        case let .ignoredSnapshot(id, index, term): return "\(id) ignored snapshot [index: \(index), term: \(term)]"
        case let .droppedProposal(id, reason): return "\(id) dropped proposal: \(reason)"
        case let .refusedConfChange(id, why): return "\(id) refused conf change: \(why)"
        case let .transferStarted(id, to, term): return "\(id) [term \(term)] starts to transfer leadership to \(to)"
        case let .transferAborted(id, to, term): return "\(id) [term \(term)] aborted leadership transfer to \(to)"
        case let .sentTimeoutNow(id, to, term): return "\(id) [term \(term)] sent MsgTimeoutNow to \(to)"
        case let .autoLeavingJoint(id): return "\(id) initiating automatic transition out of joint configuration"
        }
    }
}
