import EtcdProto

/// One Raft member, driven by the application from a single thread: the API the server uses.
///
/// The application feeds in time (`tick`), peer messages (`step`) and requests (`propose`,
/// `readIndex`, …), and drains work with `ready()`/`advance()`:
///
/// ```
/// while running {
///     // tick() every heartbeat interval; step() each message received; propose() writes
///     if node.hasReady {
///         let rd = node.ready()
///         send(rd.messages)                        // may overlap the write below
///         storage.persist(rd.snapshot, rd.entries, rd.hardState, sync: rd.mustSync)
///         send(rd.messagesAfterPersist)
///         apply(rd.snapshot, rd.committedEntries)  // applyConfChange for conf-change entries
///         serve(rd.readStates)
///         node.advance()
///     }
/// }
/// ```
///
/// Exactly one Ready is outstanding at a time: `advance()` must follow each `ready()` before the
/// next. Other calls (`step`, `tick`, `propose`) are allowed in between; what they produce goes
/// into the next Ready.
///
/// Not thread-safe, and not meant to be: one thread owns a `RawNode` (and its `RaftStorage`).
public struct RawNode {
    var raft: Raft
    var previousSoftState: SoftState
    var previousHardState: HardState
    /// What the Ready handed out and not yet advanced carried.
    var outstanding: Outstanding?

    struct Outstanding {
        var lastEntry: (index: LogIndex, term: Term)?
        var snapshotIndex: LogIndex?
        var hardState: HardState?
        /// The index the application will have applied after this Ready (0: unchanged).
        var appliedCursor: LogIndex
        var committedPayloadBytes: UInt64
        /// Self-addressed steps (this member's own vote) that wait for this Ready's persist.
        var stepsAfterPersist: [Message]
    }

    /// Starts a member from its persisted state in `config.storage`.
    ///
    /// A brand-new group is bootstrapped by giving each initial member a storage that holds the
    /// initial membership — `MemoryStorage(confState:)`, or a snapshot whose ConfState lists the
    /// members. A member added later starts with an empty storage and receives the log or a
    /// snapshot from the leader.
    public init(config: RaftConfig) throws(RaftConfigError) {
        raft = try Raft(config: config)
        previousSoftState = raft.softState
        previousHardState = raft.hardState
    }

    public var id: MemberID { raft.id }

    // MARK: inputs

    /// Advances the logical clock by one tick. Followers campaign after an election timeout
    /// without a leader; leaders send heartbeats every `heartbeatTicks`.
    public mutating func tick() {
        raft.tick()
    }

    /// Starts an election now (as if the election timeout had passed). Ignored by a leader, a
    /// learner, or a member with unapplied configuration changes (see `RaftEvent`).
    public mutating func campaign() {
        try? raft.step(Message(type: .hup, from: raft.id.rawValue))
    }

    /// Proposes one entry. On a follower it is forwarded to the leader; on success it is only
    /// queued — it may still be lost (the leader may change); watch `committedEntries`.
    public mutating func propose(_ data: [UInt8]) throws(RaftError) {
        try raft.step(Message(type: .prop, from: raft.id.rawValue, entries: [Entry(term: 0, index: 0, data: data)]))
    }

    /// Proposes many entries at once, as one batch: one append, one message per follower. All or
    /// none are accepted. An empty batch does nothing.
    public mutating func propose(_ datas: [[UInt8]]) throws(RaftError) {
        guard !datas.isEmpty else { return }
        var entries: [Entry] = []
        entries.reserveCapacity(datas.count)
        for data in datas { entries.append(Entry(term: 0, index: 0, data: data)) }
        try raft.step(Message(type: .prop, from: raft.id.rawValue, entries: entries))
    }

    /// Proposes a membership change (joint consensus or simple; see `ConfChangeV2.kind`). The
    /// change takes effect on each member when it applies the committed entry and calls
    /// `applyConfChange`.
    public mutating func proposeConfChange(_ cc: ConfChangeV2) throws(RaftError) {
        let entry = Entry(term: 0, index: 0, type: .confChangeV2, data: cc.serializedBytes())
        try raft.step(Message(type: .prop, from: raft.id.rawValue, entries: [entry]))
    }

    /// Proposes a one-member change in etcd 3.4's format (`EntryConfChange`).
    public mutating func proposeConfChange(_ cc: ConfChange) throws(RaftError) {
        let entry = Entry(term: 0, index: 0, type: .confChange, data: cc.serializedBytes())
        try raft.step(Message(type: .prop, from: raft.id.rawValue, entries: [entry]))
    }

    /// Applies a committed configuration change: call it when applying its entry. Returns the
    /// membership now in force. A change that cannot be applied throws and changes nothing; every
    /// member reaches the same verdict, so skipping it keeps them in agreement.
    @discardableResult
    public mutating func applyConfChange(_ cc: ConfChangeV2) throws(ConfChangeError) -> ConfState {
        try raft.applyConfChange(cc)
    }

    @discardableResult
    public mutating func applyConfChange(_ cc: ConfChange) throws(ConfChangeError) -> ConfState {
        try raft.applyConfChange(cc.asV2)
    }

    /// Feeds a message from a peer. Local message types are refused, as are responses from
    /// members this one does not track.
    public mutating func step(_ message: Message) throws(RaftError) {
        guard let type = message.type else { throw .unknownMessageType(message.typeRaw) }
        if type.isLocal { throw .stepLocalMessage }
        // Only proposals and read requests travel without a term; anything else without one is
        // malformed (and would be mistaken for a local message).
        if message.term == 0 && type != .prop && type != .readIndex { throw .missingTerm }
        if type.isResponse && !raft.tracker.contains(MemberID(message.from)) { throw .stepPeerNotFound }
        try raft.step(message)
    }

    /// Asks for a linearizable read point. When the leader has confirmed it still leads (a
    /// heartbeat round answered by a quorum), a `ReadState` with this `context` and the commit
    /// index at the time of the request appears in a Ready; reading the state machine once it has
    /// applied that index is linearizable. Use a context unique among outstanding requests; one
    /// request can serve a whole batch of reads. Requests may be lost (no answer): time out.
    public mutating func readIndex(context: [UInt8]) throws(RaftError) {
        try raft.step(Message(type: .readIndex, from: raft.id.rawValue, entries: [Entry(term: 0, index: 0, data: context)]))
    }

    /// Hands leadership to `transferee` (etcd's MoveLeader): the leader stops taking proposals,
    /// brings the transferee's log up to date and tells it to campaign at once. Abandoned after
    /// an election timeout. Only the leader can start a transfer.
    public mutating func transferLeader(to transferee: MemberID) throws(RaftError) {
        guard raft.role == .leader else { throw .notLeader }
        guard let pr = raft.tracker.progress[transferee], !pr.isLearner else { throw .invalidTransferee }
        try raft.step(Message(type: .transferLeader, from: transferee.rawValue))
    }

    /// Tells the leader a message to `member` could not be delivered.
    public mutating func reportUnreachable(_ member: MemberID) {
        try? raft.step(Message(type: .unreachable, from: member.rawValue))
    }

    /// Tells the leader how sending a snapshot to `member` ended.
    public mutating func reportSnapshot(_ member: MemberID, status: SnapshotStatus) {
        try? raft.step(Message(type: .snapStatus, from: member.rawValue, reject: status == .failed))
    }

    // MARK: outputs

    /// Whether `ready()` has anything to hand out. False while a Ready is outstanding.
    public var hasReady: Bool {
        guard outstanding == nil else { return false }
        return raft.hasWork(since: previousSoftState, previousHardState)
    }

    /// Hands out the pending work (see `Ready` for what to do with it). Call `advance()` when done.
    public mutating func ready() -> Ready {
        precondition(outstanding == nil, "advance() the previous Ready before asking for the next")
        var rd = Ready()
        rd.entries = raft.log.unstable.entries
        rd.snapshot = raft.log.unstable.snapshot
        rd.committedEntries = raft.log.entriesToApply()
        let soft = raft.softState
        if soft != previousSoftState {
            rd.softState = soft
            previousSoftState = soft
        }
        let hard = raft.hardState
        if hard != previousHardState { rd.hardState = hard }
        rd.mustSync = !rd.entries.isEmpty || rd.snapshot != nil
            || hard.term != previousHardState.term || hard.vote != previousHardState.vote
        rd.messages = raft.messages
        raft.messages = []
        rd.messagesAfterPersist = raft.messagesAfterPersist
        raft.messagesAfterPersist = []
        rd.readStates = raft.readStates
        raft.readStates = []

        let snapshotIndex = rd.snapshot.map { LogIndex($0.metadata.index) }
        let appliedCursor = rd.committedEntries.last.map { LogIndex($0.index) } ?? snapshotIndex ?? .zero
        outstanding = Outstanding(
            lastEntry: rd.entries.last.map { (LogIndex($0.index), Term($0.term)) },
            snapshotIndex: snapshotIndex,
            hardState: rd.hardState,
            appliedCursor: appliedCursor,
            committedPayloadBytes: EntrySizeLimit.payloadBytes(rd.committedEntries),
            stepsAfterPersist: raft.stepsAfterPersist)
        raft.stepsAfterPersist = []
        return rd
    }

    /// Confirms the outstanding Ready was processed: its state persisted, its messages sent, its
    /// committed entries and snapshot applied.
    public mutating func advance() {
        guard let done = outstanding else { preconditionFailure("advance() without an outstanding Ready") }
        outstanding = nil
        if let hs = done.hardState { previousHardState = hs }
        if done.appliedCursor > .zero {
            raft.log.applied(to: done.appliedCursor)
            raft.maybeAutoLeaveJoint()
        }
        raft.reduceUncommittedBytes(done.committedPayloadBytes)
        if let last = done.lastEntry { raft.log.stableTo(index: last.index, term: last.term) }
        if let index = done.snapshotIndex { raft.log.stableSnapshotTo(index: index) }
        raft.onPersisted()
        for m in done.stepsAfterPersist { try? raft.step(m) }
    }

    // MARK: state

    public var status: Status {
        var progress: [MemberID: ProgressStatus] = [:]
        if raft.role == .leader {
            for (member, pr) in raft.tracker.progress { progress[member] = ProgressStatus(pr) }
        }
        return Status(
            id: raft.id, term: raft.term, vote: raft.vote, commit: raft.log.committed, applied: raft.log.applied,
            lastIndex: raft.log.lastIndex, leader: raft.lead, role: raft.role, isLearner: raft.isLearner,
            leadTransferee: raft.leadTransferee, confState: raft.tracker.confState, progress: progress)
    }

    /// The leader this member knows of, or `.none`.
    public var leaderID: MemberID { raft.lead }
    public var term: Term { raft.term }
    public var role: RaftRole { raft.role }
    public var commitIndex: LogIndex { raft.log.committed }
    public var appliedIndex: LogIndex { raft.log.applied }
    public var lastIndex: LogIndex { raft.log.lastIndex }
    public var isLearner: Bool { raft.isLearner }
    /// The membership in force (as of the last applied configuration change).
    public var confState: ConfState { raft.tracker.confState }

    /// The term of the entry at `index` in this member's log (stable or not); nil when compacted
    /// or past the end.
    public func term(at index: LogIndex) -> Term? {
        guard index <= raft.log.lastIndex, case .success(let t) = raft.log.term(at: index) else { return nil }
        return t
    }
}
