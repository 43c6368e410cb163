import EtcdProto

/// How a member behaves: its identity, timing in ticks, flow-control limits and features.
/// Defaults follow etcd's server where etcd has one.
public struct RaftConfig {
    /// This member's ID; never `.none`.
    public var id: MemberID
    /// The log, hard state and snapshot persisted so far (empty for a brand-new member).
    public var storage: any RaftStorage
    /// Ticks a follower waits without hearing from a leader before it campaigns. The actual
    /// timeout is drawn at random from `electionTicks ..< 2 * electionTicks` at each reset, so
    /// members rarely time out together. Must exceed `heartbeatTicks`.
    public var electionTicks: Int = 10
    /// Ticks between a leader's heartbeats.
    public var heartbeatTicks: Int = 1
    /// The index up to which the application has applied entries (from its own durable state);
    /// 0 for "as far as the snapshot".
    public var applied: LogIndex = .zero
    /// Upper bound on the encoded entries in one append message (at least one entry is always
    /// sent). `UInt64.max` for no limit; 0 sends one entry per message.
    public var maxSizePerMessageBytes: UInt64 = 1024 * 1024
    /// Upper bound on the committed entries handed out in one `Ready` (at least one).
    public var maxCommittedSizePerReadyBytes: UInt64 = 1024 * 1024 * 4
    /// Upper bound on the payload of entries a leader holds uncommitted; proposals past it are
    /// dropped with `.uncommittedSizeLimit`. One proposal is always accepted when nothing is
    /// uncommitted.
    public var maxUncommittedEntriesBytes: UInt64 = UInt64.max
    /// Upper bound on append messages in flight to one follower in replicate state.
    public var maxInflightMessages: Int = 256
    /// A leader steps down when it has not heard from a quorum within an election timeout; a
    /// follower that heard from its leader within the timeout ignores vote requests.
    public var checkQuorum: Bool = true
    /// Campaign in two phases: ask first whether a vote would be granted, without raising the
    /// term, so that a member rejoining after a partition does not depose a healthy leader.
    public var preVote: Bool = true
    /// A follower drops proposals instead of forwarding them to the leader.
    public var disableProposalForwarding: Bool = false
    /// A leader that is removed from the configuration (or demoted) hands over and steps down
    /// after applying the change: it leads the new configuration (without counting itself) until
    /// a voter holds its whole log — then tells that voter to campaign at once — or an election
    /// timeout passed. Without it, it leads on (etcd 3.4's behaviour) until the application stops
    /// it.
    public var stepDownOnRemoval: Bool = true
    /// Seeds the election-timeout randomness; the same seed and the same inputs give the same
    /// behaviour.
    public var randomSeed: UInt64
    /// Receives notable state changes (elections, role changes, dropped requests). Called
    /// synchronously on the driving thread.
    public var eventHandler: ((RaftEvent) -> Void)?

    public init(id: MemberID, storage: any RaftStorage, randomSeed: UInt64? = nil) {
        self.id = id
        self.storage = storage
        self.randomSeed = randomSeed ?? (id.rawValue &* 0x9E37_79B9_7F4A_7C15)
    }

    func validate() throws(RaftConfigError) {
        if id.isNone { throw .invalid("id must not be 0") }
        if heartbeatTicks <= 0 { throw .invalid("heartbeatTicks must be positive") }
        if electionTicks <= heartbeatTicks { throw .invalid("electionTicks must exceed heartbeatTicks") }
        if maxInflightMessages <= 0 { throw .invalid("maxInflightMessages must be positive") }
    }
}

/// A `RaftConfig` or initial state that cannot start a member.
public enum RaftConfigError: Error, Equatable, Sendable {
    case invalid(String)
    /// The storage's ConfState could not be restored.
    case invalidConfState(ConfChangeError)
    /// The storage's hard state contradicts its log.
    case inconsistentState(String)
    /// The storage failed.
    case storage(RaftStorageError)
}

/// Why a request was not taken up. Raft never retries; the caller decides.
public enum RaftError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The proposal (or read-index request) was dropped; see the reason.
    case proposalDropped(ProposalDropReason)
    /// A local message type (`MsgHup`, `MsgBeat`, …) arrived from the network.
    case stepLocalMessage
    /// A response from a member this one does not track (e.g. removed).
    case stepPeerNotFound
    /// A message with a type this build does not know.
    case unknownMessageType(Int32)
    /// A message from a peer without a term (only proposals and read requests have none).
    case missingTerm
    /// Only the leader can do this (e.g. leadership transfer).
    case notLeader
    /// A leadership transfer to a member that is not a voter.
    case invalidTransferee

    public var description: String {
        switch self {
        case .proposalDropped(let reason): "proposal dropped: \(reason)"
        case .stepLocalMessage: "cannot step a local message"
        case .stepPeerNotFound: "response from a member not in the configuration"
        case .unknownMessageType(let raw): "unknown message type \(raw)"
        case .missingTerm: "message without a term"
        case .notLeader: "not leader"
        case .invalidTransferee: "transferee is not a voter"
        }
    }
}

/// Why a proposal was dropped.
public enum ProposalDropReason: Sendable, Equatable, CustomStringConvertible {
    /// No leader is known (an election is in progress, or this member is cut off).
    case noLeader
    /// The leader is handing over to another member and takes no proposals meanwhile.
    case leadershipTransferInProgress
    /// This member is not in the configuration (it was removed).
    case notMember
    /// Forwarding to the leader is disabled (`disableProposalForwarding`).
    case forwardingDisabled
    /// Accepting it would pass `maxUncommittedEntriesBytes`.
    case uncommittedSizeLimit
    /// The proposal had no entries.
    case emptyProposal
    /// A configuration change proposed on the leader while another is unapplied, or that does not
    /// fit the current configuration (a change while joint, leaving when not joint).
    case confChangeRefused

    public var description: String {
        switch self {
        case .noLeader: "no leader"
        case .leadershipTransferInProgress: "leadership transfer in progress"
        case .notMember: "not a member of the configuration"
        case .forwardingDisabled: "proposal forwarding disabled"
        case .uncommittedSizeLimit: "uncommitted entries past maxUncommittedEntriesBytes"
        case .emptyProposal: "empty proposal"
        case .confChangeRefused: "configuration change refused"
        }
    }
}
