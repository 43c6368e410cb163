import EtcdProto

/// The Raft state machine of one member: pure, deterministic, and free of I/O. `RawNode` wraps it
/// with the Ready/advance protocol; everything here runs on the caller's thread, synchronously.
///
/// Outputs are queued, never performed: messages go to `messages` (may be sent at once) or
/// `messagesAfterPersist` (only once this member's unstable state is durable); steps this member
/// owes itself once its state is durable (its own vote) go to `stepsAfterPersist`.
///
/// Persistence and self-acknowledgement: a leader counts its own log towards a quorum only up to
/// what is persisted (`RaftLog.lastStableIndex`, updated in `onPersisted()`), and a candidate
/// counts its own vote only once its term and vote are persisted. So a leader may send its new
/// entries to followers before writing them itself (Raft thesis §10.2.1), and a single member
/// commits as soon as its own write completes.
struct Raft {
    let id: MemberID

    // MARK: persistent state (HardState)

    var term: Term = .zero
    /// Whom this member voted for in `term` (`.none` if nobody).
    var vote: MemberID = .none
    var log: RaftLog

    // MARK: volatile state

    var tracker: ProgressTracker
    private(set) var role: RaftRole = .follower
    /// Whether this member is a learner in its current configuration.
    var isLearner = false
    /// The leader of `term`, if known.
    var lead: MemberID = .none
    /// The member leadership is being handed to, while a transfer is in progress.
    var leadTransferee: MemberID = .none
    /// This leader was removed from the configuration and leads only until it hands over.
    var handingOverAfterRemoval = false
    /// A leader accepts no new configuration change while one at or below this index may be
    /// unapplied.
    var pendingConfIndex: LogIndex = .zero
    /// Payload bytes of entries this leader appended and has not yet seen applied.
    var uncommittedBytes: UInt64 = 0
    var readOnly = ReadOnly()
    /// Read requests that arrived before this leader committed an entry of its term (until then
    /// its commit index may lag what earlier leaders committed).
    var pendingReadIndexMessages: [Message] = []
    var readStates: [ReadState] = []

    /// Ticks since the last election timeout reset (followers, candidates), or since the last
    /// CheckQuorum round (leaders).
    var electionElapsed = 0
    /// Ticks since the last heartbeat (leaders only).
    var heartbeatElapsed = 0
    /// This term's election timeout, drawn from `electionTicks ..< 2 * electionTicks`.
    var randomizedElectionTimeoutTicks = 0

    // MARK: outbox

    /// Messages that may be sent at once, before the current unstable state is persisted.
    var messages: [Message] = []
    /// Messages that vouch for this member's durable state (log acks, votes): sent only after the
    /// Ready carrying that state was persisted.
    var messagesAfterPersist: [Message] = []
    /// Messages to this member itself, stepped once the Ready they follow was persisted.
    var stepsAfterPersist: [Message] = []

    // MARK: configuration

    let electionTicks: Int
    let heartbeatTicks: Int
    let checkQuorum: Bool
    let preVote: Bool
    let disableProposalForwarding: Bool
    let stepDownOnRemoval: Bool
    let maxMessageBytes: UInt64
    let maxUncommittedBytes: UInt64
    var random: SeededRandom
    let eventHandler: ((RaftEvent) -> Void)?

    init(config: RaftConfig) throws(RaftConfigError) {
        try config.validate()
        id = config.id
        electionTicks = config.electionTicks
        heartbeatTicks = config.heartbeatTicks
        checkQuorum = config.checkQuorum
        preVote = config.preVote
        disableProposalForwarding = config.disableProposalForwarding
        stepDownOnRemoval = config.stepDownOnRemoval
        maxMessageBytes = config.maxSizePerMessageBytes
        maxUncommittedBytes = config.maxUncommittedEntriesBytes
        random = SeededRandom(seed: config.randomSeed)
        eventHandler = config.eventHandler
        log = RaftLog(storage: config.storage, maxCommittedSizePerReadyBytes: config.maxCommittedSizePerReadyBytes)
        tracker = ProgressTracker(maxInflight: config.maxInflightMessages)

        let hardState: HardState
        let confState: ConfState
        do {
            (hardState, confState) = try config.storage.initialState()
        } catch {
            throw .storage(error)
        }
        let restored: ConfChanger.Outcome
        do {
            restored = try ConfChanger.restore(confState, tracker: tracker, lastIndex: log.lastIndex)
        } catch {
            throw .invalidConfState(error)
        }
        let cs = switchToConfig(restored.config, restored.progress)
        guard cs.isEquivalent(to: confState) else {
            throw .inconsistentState("restored configuration \(cs) differs from stored \(confState)")
        }
        if !hardState.isEmpty {
            let commit = LogIndex(hardState.commit)
            guard commit >= log.committed, commit <= log.lastIndex else {
                throw .inconsistentState("hard state commit \(commit) outside [\(log.committed), \(log.lastIndex)]")
            }
            log.committed = commit
            term = Term(hardState.term)
            vote = MemberID(hardState.vote)
        }
        if config.applied > .zero {
            // The application's applied index is durable on its own; the commit index in the
            // hard state need not be (it is written without fsync). An applied entry was committed.
            guard config.applied <= log.lastIndex else {
                throw .inconsistentState("applied \(config.applied) past last index \(log.lastIndex)")
            }
            if config.applied > log.committed { log.committed = config.applied }
            if config.applied > log.applied { log.applied(to: config.applied) }
        }
        becomeFollower(term: term, leader: .none)
    }

    // MARK: state summaries

    var softState: SoftState { SoftState(leader: lead, role: role) }

    var hardState: HardState {
        HardState(term: term.rawValue, vote: vote.rawValue, commit: log.committed.rawValue)
    }

    /// Whether this member may campaign: it is a voter in its own configuration.
    var isPromotable: Bool {
        guard let pr = tracker.progress[id] else { return false }
        return !pr.isLearner
    }

    /// Whether there is anything for a Ready: a changed soft or hard state, unstable entries or
    /// snapshot, messages, read states or entries to apply. Compares field by field (this runs
    /// on every turn of the application's loop).
    func hasWork(since soft: SoftState, _ hard: HardState) -> Bool {
        if lead != soft.leader || role != soft.role { return true }
        if term.rawValue != hard.term || vote.rawValue != hard.vote || log.committed.rawValue != hard.commit { return true }
        if log.unstable.snapshot != nil || !log.unstable.entries.isEmpty { return true }
        if !messages.isEmpty || !messagesAfterPersist.isEmpty || !stepsAfterPersist.isEmpty { return true }
        return !readStates.isEmpty || log.hasEntriesToApply
    }

    func emit(_ event: @autoclosure () -> RaftEvent) {
        if let eventHandler { eventHandler(event()) }
    }

    // MARK: sending

    /// Queues `m` for sending, stamping `from` and (for all but vote traffic, proposals and read
    /// requests) the current term.
    mutating func send(_ message: Message) {
        var m = message
        m.from = id.rawValue
        let type = m.type!
        switch type {
        case .vote, .voteResp, .preVote, .preVoteResp:
            // Vote traffic carries the term it is about, which is not always this member's: a
            // pre-vote asks about the next term, and a vote answer echoes the request's term.
            precondition(m.term != 0, "term must be set when sending \(type.etcdName)")
        default:
            precondition(m.term == 0, "term must not be set when sending \(type.etcdName)")
            // Proposals and read requests are forwarded without a term: they are local requests
            // in transit, and a stale one is harmless.
            if type != .prop && type != .readIndex { m.term = term.rawValue }
        }
        switch type {
        case .appResp, .voteResp, .preVoteResp:
            // These answer for this member's log and vote, which must be durable first.
            messagesAfterPersist.append(m)
        default:
            messages.append(m)
        }
    }

    // MARK: role changes

    /// Resets the per-term volatile state; entering a new term forgets the vote.
    mutating func reset(term newTerm: Term) {
        if term != newTerm {
            term = newTerm
            vote = .none
        }
        lead = .none
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        abortLeaderTransfer()
        tracker.resetVotes()
        let lastIndex = log.lastIndex
        let selfMatch = log.lastStableIndex ?? .zero
        let maxInflight = tracker.maxInflight
        let me = id
        tracker.forEach { memberID, pr in
            pr = Progress(next: lastIndex + 1, maxInflight: maxInflight, isLearner: pr.isLearner)
            if memberID == me {
                // Only what this member has persisted counts towards its own quorum share.
                pr.match = Swift.min(selfMatch, lastIndex)
                pr.recentActive = true
            }
        }
        pendingConfIndex = .zero
        uncommittedBytes = 0
        handingOverAfterRemoval = false
        readOnly.reset()
        pendingReadIndexMessages.removeAll()
    }

    mutating func resetRandomizedElectionTimeout() {
        randomizedElectionTimeoutTicks = electionTicks + random.below(electionTicks)
    }

    mutating func becomeFollower(term newTerm: Term, leader: MemberID) {
        reset(term: newTerm)
        lead = leader
        role = .follower
        emit(.becameFollower(id, term: term, leader: leader))
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "invalid transition [leader -> candidate]")
        reset(term: term.next)
        vote = id
        role = .candidate
        emit(.becameCandidate(id, term: term))
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "invalid transition [leader -> pre-candidate]")
        // The term and vote stay: a pre-candidate only asks.
        tracker.resetVotes()
        lead = .none
        role = .preCandidate
        emit(.becamePreCandidate(id, term: term))
    }

    mutating func becomeLeader() {
        precondition(role != .follower, "invalid transition [follower -> leader]")
        reset(term: term)
        lead = id
        role = .leader
        // The leader's own progress is trivially in replicate state.
        tracker.update(id) { $0.becomeReplicate() }
        // Some entry of an earlier term in the log may be an unapplied configuration change;
        // refusing new ones until everything up to here is applied is safe and cheap.
        pendingConfIndex = log.lastIndex
        // The no-op entry of the new term (§8): committing it commits everything before it.
        let appended = appendEntries([Entry()])
        precondition(appended, "the leader's empty entry was refused")
        // An empty entry counts nothing towards the uncommitted limit.
        emit(.becameLeader(id, term: term))
    }

    // MARK: ticks

    mutating func tick() {
        if role == .leader { tickHeartbeat() } else { tickElection() }
    }

    private mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeoutTicks {
            electionElapsed = 0
            _ = try? step(Message(type: .hup, from: id.rawValue))
        }
    }

    private mutating func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= electionTicks {
            electionElapsed = 0
            if handingOverAfterRemoval {
                handOverAndStepDown()
                return
            }
            if checkQuorum {
                _ = try? step(Message(type: .checkQuorum, from: id.rawValue))
            }
            // A transfer that did not finish within an election timeout is abandoned.
            if role == .leader && !leadTransferee.isNone {
                emit(.transferAborted(id, to: leadTransferee, term: term))
                abortLeaderTransfer()
            }
        }
        guard role == .leader else { return }
        if heartbeatElapsed >= heartbeatTicks {
            heartbeatElapsed = 0
            _ = try? step(Message(type: .beat, from: id.rawValue))
        }
    }

    mutating func abortLeaderTransfer() {
        leadTransferee = .none
    }

    // MARK: appending as leader

    /// Appends entries to the leader's log at the current term. Returns false (appending nothing)
    /// when they would pass the uncommitted size limit.
    mutating func appendEntries(_ entries: [Entry]) -> Bool {
        var entries = entries
        let last = log.lastIndex
        for i in entries.indices {
            entries[i].term = term.rawValue
            entries[i].index = (last + UInt64(i + 1)).rawValue
        }
        let payload = EntrySizeLimit.payloadBytes(entries)
        // Always accept when nothing is uncommitted, so that one large proposal can pass.
        if uncommittedBytes > 0 && payload > 0 && uncommittedBytes + payload > maxUncommittedBytes { return false }
        uncommittedBytes += payload
        log.append(entries[...])
        // The leader's own share of the quorum moves only when these entries are persisted
        // (`onPersisted`), so nothing can commit here.
        return true
    }

    /// Accounts for applied entries in the uncommitted size.
    mutating func reduceUncommittedBytes(_ payload: UInt64) {
        uncommittedBytes = payload > uncommittedBytes ? 0 : uncommittedBytes - payload
    }

    // MARK: persistence feedback

    /// Called by `RawNode.advance()` after the application persisted a Ready: the leader's own
    /// log now counts towards the quorum up to what is stable.
    mutating func onPersisted() {
        guard role == .leader, let stable = log.lastStableIndex else { return }
        let moved = tracker.update(id) { $0.maybeUpdate(stable) } ?? false
        if moved && maybeCommit() {
            releasePendingReadIndexMessages()
            broadcastAppend()
        }
    }
}
