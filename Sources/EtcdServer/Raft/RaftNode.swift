import EtcdProto
import Foundation
import Logging
import MVCC
import Raft
import Storage
import Synchronization

/// Where a member's raft messages go: the peer transport (`Sources/Peer`) or nothing for a
/// one-member cluster. Called on the raft thread; must not block (queue, drop when full, and
/// report the recipient unreachable).
protocol RaftMessageSender: AnyObject, Sendable {
    func send(_ messages: [Message])
}

/// The one thread that drives this member's Raft (`RawNode`): it takes proposals, peer messages,
/// read requests and ticks, and works through each `Ready` in raft's order (DESIGN §2, §5):
///
/// 1. send the messages that may leave before the write (a leader's appends);
/// 2. append the entries and hard state to the WAL, one `fdatasync` per Ready when raft says so;
/// 3. send the messages that vouch for what was written (votes, append acknowledgements);
/// 4. apply the committed entries in one LMDB transaction with the applied index, then answer
///    their proposers (found by request ID: on a follower the entry came from the leader) and
///    tell the watchers;
/// 5. release the linearizable reads whose read index is applied; `advance()`.
///
/// A one-member cluster takes exactly this path: its entries commit on its own fsync.
///
/// Threading: `propose`, `step`, `read`, `report*`, `stop` and the published state (`term`,
/// `leader`, …) may be used from any thread; everything else runs on the raft thread.
final class RaftNode: @unchecked Sendable {
    struct Configuration {
        var memberID: UInt64
        var heartbeatMilliseconds: Int
        var electionTicks: Int
        var preVote: Bool
        var snapshotCount: UInt64
        /// Entries kept in memory before a snapshot for followers that lag a little (etcd's
        /// `SnapshotCatchUpEntries`).
        var snapshotCatchUpEntries: UInt64 = 5000
        var maxSnapshots: Int
        var maxWALs: Int
        /// False with `--unsafe-no-fsync`.
        var fsync: Bool
        /// How long a proposal or a linearizable read may wait (etcd's `ReqTimeout()`: 5 s plus
        /// two election timeouts).
        var requestTimeoutNanoseconds: Int64
    }

    /// Proposals waiting for the thread, at most (with those in the log and not yet applied:
    /// etcd's `maxGapBetweenApplyAndCommitIndex`).
    static let queuedProposalsMax = 5000
    /// Bytes of proposals waiting for the thread, at most.
    static let queuedProposalBytesMax = 256 << 20
    /// Proposals handed to raft in one call (one append, one message per follower).
    static let proposalsPerStepMax = 4096
    /// Time between attempts to apply a batch the backend refused.
    static let stallRetryInterval: TimeInterval = 1
    static let stallLogEveryRetries = 60
    /// The longest the thread sleeps before it looks again (a lease may be due in centuries).
    static let waitNanosecondsMax: Int64 = 3_600 * 1_000_000_000

    let configuration: Configuration
    private let store: MVCCStore
    private let wal: WriteAheadLog
    private let snapshots: SnapshotStore
    private let raftStorage: MemoryStorage
    private var rawNode: RawNode
    private let batchApplier: BatchApplier
    let applier: Applier
    let membership: MembershipStore
    private let logger: Logger

    /// Set before `start()`.
    var sender: (any RaftMessageSender)?
    /// Receives each applied batch's changes. Set before `start()`.
    var watchHub: WatchHub?
    /// Counters and histograms this thread feeds (set once before `start`).
    var metrics: ServerMetrics?
    /// The leader's lease expiry round. Set before `start()`; raft thread only afterwards.
    var timer: (any RaftLoopTimer)?
    /// Called on the raft thread after a batch that changed the membership was applied.
    var onMembershipApplied: ((Membership) -> Void)?
    /// Called on the raft thread once a change that removed this member from the cluster was
    /// applied (etcd stops the member then).
    var onRemoved: (() -> Void)?
    /// Called on the raft thread when this member, as leader, applied the first entry of its term
    /// (it may act as leader: etcd's `notifyAboutFirstCommitInTerm`).
    var onLeading: (() -> Void)?
    /// A failpoint (as etcd's gofail ones): asked before each attempt to apply a batch; an error
    /// fails that attempt as the backend would. Tests only; set before `start()`.
    var applyFault: (@Sendable () -> (any Error)?)?

    // MARK: state shared with other threads

    private let published = Mutex(PublishedState())
    private let termAtomic = Atomic<UInt64>(0)
    private let leaderAtomic = Atomic<UInt64>(0)
    private let singletonLeaderAtomic = Atomic<Bool>(false)
    private let learnerAtomic = Atomic<Bool>(false)
    private let stalledFlag = Atomic<Bool>(false)
    private let stallAttempts = Atomic<Int>(0)
    /// Proposals the raft thread holds (waiting for a leader, or in the log and not yet applied):
    /// with those queued, bounded by `queuedProposalsMax` (etcd's applied-behind-committed gap).
    private let outstandingAtomic = Atomic<Int>(0)

    struct PublishedState {
        var commitIndex: UInt64 = 0
        var appliedIndex: UInt64 = 0
        var appliedTerm: UInt64 = 0
        var isLearner = false
        var confState = ConfState()
        var leaderElectedNanoseconds: Int64 = 0
    }

    // MARK: raft thread state

    private struct Inbox {
        var proposals: [Proposal] = []
        var proposalBytes = 0
        var messages: [Message] = []
        var reads: [ReadWaiter] = []
        var unreachable: [UInt64] = []
        var snapshotReports: [(UInt64, SnapshotStatus)] = []
        var transfers: [LeaderTransfer] = []
        var inspections: [@Sendable (Status?) -> Void] = []
        var campaign = false
        var advanceTicks = 0
        var stopping = false

        var isEmpty: Bool {
            proposals.isEmpty && messages.isEmpty && reads.isEmpty && unreachable.isEmpty && snapshotReports.isEmpty
                && transfers.isEmpty && inspections.isEmpty && !campaign && advanceTicks == 0 && !stopping
        }
    }

    private let condition = NSCondition()
    private var inbox = Inbox()
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)

    /// Proposals handed to raft, by request ID, with their deadline.
    private var waiters: [UInt64: (proposal: Proposal, deadline: Int64)] = [:]
    /// Proposals held while there is no leader (etcd's proposal blocks until there is one).
    private var heldProposals: [(proposal: Proposal, deadline: Int64)] = []
    private var reads = ReadIndexBatcher<ReadWaiter>()
    private var transfers: [LeaderTransfer] = []
    private var snapshotIndex: UInt64
    private var appliedIndex: UInt64
    private var nextTickNanoseconds: Int64 = 0
    private var leader: UInt64 = 0
    private var isLeader = false

    init(configuration: Configuration, store: MVCCStore, wal: WriteAheadLog, snapshots: SnapshotStore,
         raftStorage: MemoryStorage, snapshotIndex: UInt64, applier: Applier, membership: MembershipStore, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.wal = wal
        self.snapshots = snapshots
        self.raftStorage = raftStorage
        self.applier = applier
        self.membership = membership
        self.logger = logger
        self.batchApplier = BatchApplier(store: store, applier: applier, logger: logger)
        self.snapshotIndex = snapshotIndex
        self.appliedIndex = store.meta.appliedIndex
        var raftConfig = RaftConfig(id: MemberID(configuration.memberID), storage: raftStorage)
        raftConfig.electionTicks = configuration.electionTicks
        raftConfig.heartbeatTicks = 1
        raftConfig.preVote = configuration.preVote
        raftConfig.checkQuorum = true
        raftConfig.maxInflightMessages = 512
        raftConfig.maxSizePerMessageBytes = 1024 * 1024
        raftConfig.randomSeed = configuration.memberID ^ UInt64(bitPattern: Int64(DispatchTime.now().uptimeNanoseconds))
        // The store's applied index is raft's: the membership it holds (and the configuration raft
        // starts from, `raftStorage`'s ConfState) is as of that index, so nothing before it is
        // applied again. (With --unsafe-no-fsync the WAL may have lost what the store kept.)
        raftConfig.applied = LogIndex(min(store.meta.appliedIndex, raftStorage.lastIndex().rawValue))
        do {
            rawNode = try RawNode(config: raftConfig)
        } catch {
            throw RaftNodeError.cannotStart("\(error)")
        }
        let hs = raftStorage.hardState
        termAtomic.store(hs.term, ordering: .relaxed)
        published.withLock {
            $0.commitIndex = hs.commit
            $0.appliedIndex = appliedIndex
            $0.appliedTerm = store.meta.appliedTerm
        }
    }

    // MARK: published state (any thread)

    var term: UInt64 { termAtomic.load(ordering: .relaxed) }
    /// The leader this member knows of, 0 for none.
    var leaderID: UInt64 { leaderAtomic.load(ordering: .relaxed) }
    var hasLeader: Bool { leaderID != 0 }
    /// Whether this member leads a cluster of one voter: its linearizable reads need no round
    /// (every write it acknowledged is applied before the acknowledgement).
    var isSingletonLeader: Bool { singletonLeaderAtomic.load(ordering: .relaxed) }
    var state: PublishedState { published.withLock { $0 } }
    /// Whether this member is a learner in raft's configuration (no lock: asked on every call).
    var isLearner: Bool { learnerAtomic.load(ordering: .relaxed) }
    /// True while applying to the backend fails: writes are refused.
    var isStalled: Bool { stalledFlag.load(ordering: .acquiring) }
    /// Proposals waiting for a leader or in the log and not yet applied.
    var pendingProposals: Int { outstandingAtomic.load(ordering: .relaxed) }
    var stalledAttempts: Int { stallAttempts.load(ordering: .relaxed) }

    // MARK: inputs (any thread)

    /// Queues a write. Fails at once with "too many requests" when the queue is full.
    func propose(_ proposal: Proposal) {
        let refusal = condition.withLock { () -> EtcdError? in
            if inbox.stopping { return .stopped }
            if inbox.proposals.count + outstandingAtomic.load(ordering: .relaxed) >= Self.queuedProposalsMax
                || inbox.proposalBytes + proposal.data.count > Self.queuedProposalBytesMax {
                return .tooManyRequests
            }
            inbox.proposals.append(proposal)
            inbox.proposalBytes += proposal.data.count
            condition.signal()
            return nil
        }
        if let refusal { proposal.completion(.failure(refusal)) }
    }

    /// A message from a peer.
    func step(_ message: Message) {
        condition.withLock {
            inbox.messages.append(message)
            condition.signal()
        }
    }

    /// A linearizable read: `completion` runs (on the raft thread) once this member has applied
    /// everything committed when the read arrived and a leader confirmed it still led, or with the
    /// reason it could not.
    func read(_ completion: @escaping @Sendable (Result<Void, EtcdError>) -> Void) {
        let refused = condition.withLock { () -> Bool in
            if inbox.stopping { return true }
            inbox.reads.append(ReadWaiter(completion: completion))
            condition.signal()
            return false
        }
        if refused { completion(.failure(.stopped)) }
    }

    func reportUnreachable(_ member: UInt64) {
        condition.withLock {
            inbox.unreachable.append(member)
            condition.signal()
        }
    }

    func reportSnapshot(_ member: UInt64, status: SnapshotStatus) {
        condition.withLock {
            inbox.snapshotReports.append((member, status))
            condition.signal()
        }
    }

    /// etcd's MoveLeader: hands leadership to `transferee`; `completion` runs once it leads, or
    /// with the reason it did not.
    func transferLeadership(to transferee: UInt64, completion: @escaping @Sendable (Result<Void, EtcdError>) -> Void) {
        condition.withLock {
            inbox.transfers.append(LeaderTransfer(transferee: transferee, completion: completion))
            condition.signal()
        }
    }

    /// Hands raft's status (with the followers' progress when this member leads) to `body`, on
    /// the raft thread: it must be quick. nil when the member is stopping.
    func inspect(_ body: @escaping @Sendable (Status?) -> Void) {
        let refused = condition.withLock { () -> Bool in
            if inbox.stopping { return true }
            inbox.inspections.append(body)
            condition.signal()
            return false
        }
        if refused { body(nil) }
    }

    /// Starts an election now (a one-member cluster at start-up).
    func campaign() {
        condition.withLock {
            inbox.campaign = true
            condition.signal()
        }
    }

    /// etcd's `advanceTicks`: `count` ticks at once (the initial election tick advance).
    func advanceTicks(_ count: Int) {
        precondition(count >= 0, "negative tick advance")
        condition.withLock {
            inbox.advanceTicks += count
            condition.signal()
        }
    }

    // MARK: thread

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "raft"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Stops after the Ready in progress; waiting proposals and reads fail with "server stopped".
    func stop() {
        condition.withLock {
            inbox.stopping = true
            condition.signal()
        }
        if thread != nil { stopped.wait() }
    }

    private static func now() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }

    private var tickNanoseconds: Int64 { Int64(configuration.heartbeatMilliseconds) * 1_000_000 }

    private func run() {
        nextTickNanoseconds = Self.now() + tickNanoseconds
        // Whatever raft has at start (entries to apply, a bootstrap's configuration).
        processReadies()
        campaignIfAlone()
        processReadies()
        while true {
            let taken = waitForWork()
            if taken.stopping {
                shutDown(taken)
                return
            }
            handle(taken)
        }
    }

    /// Waits until there is input, a tick is due or the timer is due; takes the input.
    private func waitForWork() -> Inbox {
        let timerDue = timer?.nanosecondsUntilDue()
        return condition.withLock {
            if inbox.isEmpty {
                var wait = nextTickNanoseconds - Self.now()
                if let timerDue { wait = min(wait, timerDue) }
                if wait > 0 {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(min(wait, Self.waitNanosecondsMax)) / 1e9))
                }
            }
            let taken = inbox
            inbox = Inbox(stopping: inbox.stopping)
            return taken
        }
    }

    private func handle(_ taken: Inbox) {
        let now = Self.now()
        // Ticks: at most an election's worth at once (a stalled thread must not fire a burst
        // that makes every follower campaign at the same moment).
        if now >= nextTickNanoseconds {
            var ticks = 0
            while now >= nextTickNanoseconds && ticks < configuration.electionTicks {
                rawNode.tick()
                ticks += 1
                nextTickNanoseconds += tickNanoseconds
            }
            if now >= nextTickNanoseconds { nextTickNanoseconds = now + tickNanoseconds }
        }
        for m in taken.messages {
            do {
                try rawNode.step(m)
            } catch {
                logger.debug("dropped a raft message", metadata: ["type": "\(m.typeRaw)", "from": "\(hex(m.from))", "error": "\(error)"])
            }
        }
        for id in taken.unreachable { rawNode.reportUnreachable(MemberID(id)) }
        for (id, status) in taken.snapshotReports { rawNode.reportSnapshot(MemberID(id), status: status) }
        for _ in 0..<taken.advanceTicks { rawNode.tick() }
        if taken.campaign { rawNode.campaign() }
        for transfer in taken.transfers { startTransfer(transfer, now: now) }
        if !taken.inspections.isEmpty {
            let status = rawNode.status
            for inspect in taken.inspections { inspect(status) }
        }
        let deadline = now + configuration.requestTimeoutNanoseconds
        if !taken.proposals.isEmpty {
            heldProposals.append(contentsOf: taken.proposals.map { ($0, deadline) })
        }
        proposeHeld()
        for r in taken.reads {
            if isSingletonLeader {
                r.completion(.success(()))
            } else {
                reads.enqueue(r, deadlineNanoseconds: deadline)
            }
        }
        if let context = reads.request(now: now) {
            var bytes = [UInt8](repeating: 0, count: 8)
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: context >> UInt64(56 - 8 * i)) }
            try? rawNode.readIndex(context: bytes)
        }
        processReadies()
        expire(now: now)
        outstandingAtomic.store(waiters.count + heldProposals.count, ordering: .relaxed)
        if let due = timer?.nanosecondsUntilDue(), due <= 0 { timer?.fire() }
        // The timer (lease revokes) and expiry may have queued proposals for the next round.
    }

    /// Hands held proposals to raft once a leader is known (etcd blocks the proposer until then).
    private func proposeHeld() {
        guard !heldProposals.isEmpty, leader != 0 else { return }
        var start = 0
        while start < heldProposals.count {
            let end = min(start + Self.proposalsPerStepMax, heldProposals.count)
            let batch = heldProposals[start..<end]
            start = end
            do {
                var normal: [[UInt8]] = []
                for (p, deadline) in batch {
                    if p.type == .confChange {
                        guard let cc = try? ConfChange(serializedBytes: p.data) else {
                            p.completion(.failure(.other("etcdserver: malformed configuration change")))
                            continue
                        }
                        if !normal.isEmpty {
                            try rawNode.propose(normal)
                            normal = []
                        }
                        waiters[p.id] = (p, deadline)
                        try rawNode.proposeConfChange(cc)
                    } else {
                        waiters[p.id] = (p, deadline)
                        normal.append(p.data)
                    }
                }
                if !normal.isEmpty { try rawNode.propose(normal) }
            } catch {
                for (p, _) in batch {
                    if waiters.removeValue(forKey: p.id) != nil {
                        metrics?.proposalsFailed.increment()
                        p.completion(.failure(Self.etcdError(error)))
                    }
                }
            }
        }
        heldProposals.removeAll(keepingCapacity: true)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private static func etcdError(_ error: RaftError) -> EtcdError {
        switch error {
        case .proposalDropped(.noLeader): .noLeader
        case .proposalDropped(.leadershipTransferInProgress): .other("raft proposal dropped")
        case .proposalDropped(.confChangeRefused): .other("raft proposal dropped")
        case .proposalDropped: .other("raft proposal dropped")
        default: .other("\(error)")
        }
    }

    /// Fails what waited too long: proposals (etcd's request timeout; "possibly due to previous
    /// leader failure" when the leader changed meanwhile), reads, leader transfers.
    private func expire(now: Int64) {
        let electedAt = published.withLock { $0.leaderElectedNanoseconds }
        let error: (Int64) -> EtcdError = { deadline in
            let started = deadline - self.configuration.requestTimeoutNanoseconds
            return electedAt > started ? .timeoutDueToLeaderFail : .timeout
        }
        if !heldProposals.isEmpty && heldProposals.contains(where: { $0.deadline <= now }) {
            for (p, d) in heldProposals where d <= now {
                metrics?.proposalsFailed.increment()
                p.completion(.failure(error(d)))
            }
            heldProposals.removeAll { $0.deadline <= now }
        }
        if !waiters.isEmpty {
            let late = waiters.filter { $0.value.deadline <= now }
            for (id, w) in late {
                waiters[id] = nil
                metrics?.proposalsFailed.increment()
                w.proposal.completion(.failure(error(w.deadline)))
            }
        }
        for r in reads.expire(now: now) {
            metrics?.readIndexesFailed.increment()
            r.completion(.failure(.timeout))
        }
        transfers.removeAll { t in
            guard t.deadline <= now else { return false }
            t.completion(.failure(.timeoutLeaderTransfer))
            return true
        }
    }

    private func startTransfer(_ transfer: LeaderTransfer, now: Int64) {
        var transfer = transfer
        if transfer.transferee == configuration.memberID && isLeader {
            transfer.completion(.success(()))
            return
        }
        guard isLeader else {
            transfer.completion(.failure(.notLeader))
            return
        }
        let voters = rawNode.confState.voters
        guard voters.contains(transfer.transferee) else {
            transfer.completion(.failure(.badLeaderTransferee))
            return
        }
        do {
            try rawNode.transferLeader(to: MemberID(transfer.transferee))
        } catch {
            transfer.completion(.failure(.badLeaderTransferee))
            return
        }
        transfer.deadline = now + configuration.requestTimeoutNanoseconds
        transfers.append(transfer)
    }

    private func shutDown(_ taken: Inbox) {
        for p in taken.proposals { p.completion(.failure(.stopped)) }
        for (p, _) in heldProposals { p.completion(.failure(.stopped)) }
        for (_, w) in waiters { w.proposal.completion(.failure(.stopped)) }
        waiters = [:]
        heldProposals = []
        for r in taken.reads { r.completion(.failure(.stopped)) }
        for r in reads.drain() { r.completion(.failure(.stopped)) }
        for t in transfers + taken.transfers { t.completion(.failure(.stopped)) }
        for inspect in taken.inspections { inspect(nil) }
        stopped.signal()
    }

    // MARK: Ready

    private func processReadies() {
        while rawNode.hasReady {
            let rd = rawNode.ready()
            handleReady(rd)
            rawNode.advance()
            afterAdvance()
        }
    }

    private func handleReady(_ rd: Ready) {
        if let soft = rd.softState { softStateChanged(soft) }
        if let hs = rd.hardState { termAtomic.store(hs.term, ordering: .relaxed) }
        if !rd.messages.isEmpty {
            checkHeartbeats(rd.messages)
            sender?.send(rd.messages)
        }
        if let snapshot = rd.snapshot { install(snapshot) }
        persist(rd)
        if !rd.messagesAfterPersist.isEmpty { sender?.send(rd.messagesAfterPersist) }
        if !rd.committedEntries.isEmpty {
            // Published before apply publishes its applied index: a Status read in between must
            // never see applied > committed.
            published.withLock { $0.commitIndex = max($0.commitIndex, rd.committedEntries.last!.index) }
            apply(rd.committedEntries)
        }
        for rs in rd.readStates where rs.requestContext.count == 8 {
            let context = rs.requestContext.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            reads.received(context: context, index: rs.index.rawValue)
        }
        if let hs = rd.hardState { published.withLock { $0.commitIndex = max($0.commitIndex, hs.commit) } }
        for r in reads.release(applied: appliedIndex) { r.completion(.success(())) }
    }

    /// A one-member cluster elects itself at once (etcd fast-forwards its ticks).
    private func campaignIfAlone() {
        let confState = rawNode.confState
        let singleton = confState.voters == [configuration.memberID] && confState.votersOutgoing.isEmpty
        if singleton && leader == 0 && rawNode.role == .follower { rawNode.campaign() }
    }

    private func afterAdvance() {
        campaignIfAlone()
        let confState = rawNode.confState
        let singleton = confState.voters == [configuration.memberID] && confState.votersOutgoing.isEmpty
        singletonLeaderAtomic.store(singleton && isLeader, ordering: .relaxed)
        published.withLock {
            $0.confState = confState
            $0.isLearner = rawNode.isLearner
        }
        learnerAtomic.store(rawNode.isLearner, ordering: .relaxed)
        proposeHeld()
    }

    private func softStateChanged(_ soft: SoftState) {
        let newLeader = soft.leader.rawValue
        let wasLeader = isLeader
        isLeader = soft.role == .leader
        if newLeader != leader {
            // etcd counts a change to a (different) leader, not the loss of one.
            if newLeader != 0 { metrics?.leaderChanges.increment() }
            logger.info(newLeader == 0 ? "raft.node: lost leader" : "raft.node: elected leader", metadata: [
                "local-member-id": "\(hex(configuration.memberID))", "leader-member-id": "\(hex(newLeader))", "term": "\(rawNode.term)",
            ])
            leader = newLeader
            leaderAtomic.store(newLeader, ordering: .relaxed)
            let now = Self.now()
            published.withLock { $0.leaderElectedNanoseconds = now }
            for r in reads.leaderChanged() { r.completion(.failure(.leaderChanged)) }
            transfers.removeAll { t in
                guard newLeader == t.transferee else { return false }
                t.completion(.success(()))
                return true
            }
        }
        if wasLeader && !isLeader { applier.leases.lessor.demote() }
        if !isLeader { singletonLeaderAtomic.store(false, ordering: .relaxed) }
    }

    /// Step 2: the entries and hard state to the WAL, synced when raft asks; then the storage
    /// raft reads from.
    private func persist(_ rd: Ready) {
        if !rd.entries.isEmpty || rd.hardState != nil {
            do {
                try wal.append(entries: rd.entries, hardState: rd.hardState)
                if rd.mustSync && configuration.fsync {
                    let start = ContinuousClock.now
                    try wal.sync()
                    metrics?.walFsync.record(Self.seconds(since: start))
                }
            } catch {
                // etcd treats a failed WAL write as fatal: nothing in this Ready was acknowledged,
                // and going on could acknowledge what the log does not hold.
                logger.critical("failed to save raft entries to the WAL", metadata: ["error": "\(error)"])
                fatalError("WAL write failed: \(error)")
            }
        }
        raftStorage.append(rd.entries)
        if let hs = rd.hardState { raftStorage.setHardState(hs) }
    }

    // MARK: apply

    /// Step 4: the committed entries in one transaction (any the store already holds skipped).
    private func apply(_ committed: [Entry]) {
        let fresh = committed.first.map { $0.index > appliedIndex } == true ? committed : committed.filter { $0.index > appliedIndex }
        guard !fresh.isEmpty else { return }

        var decoded: [CommittedEntry] = []
        var proposals: [Proposal?] = []
        decoded.reserveCapacity(fresh.count)
        proposals.reserveCapacity(fresh.count)
        for entry in fresh {
            var proposal: Proposal?
            if !waiters.isEmpty, !entry.data.isEmpty {
                let id = entry.type == .confChange
                    ? (try? ConfChange(serializedBytes: entry.data))?.id
                    : InternalRaftRequest.peekRequestID(entry.data)
                if let id, id != 0, let w = waiters[id], w.proposal.data == entry.data {
                    waiters[id] = nil
                    proposal = w.proposal
                }
            }
            proposals.append(proposal)
            decoded.append(CommittedEntry.decode(entry, known: proposal?.request))
        }

        let applyStarted = ContinuousClock.now
        let applied = applyWithRetry(fresh, decoded: decoded)
        let applySeconds = Self.seconds(since: applyStarted)
        if applySeconds / Double(fresh.count) > Self.slowApplySeconds {
            // etcd's "apply request took too long", per entry there: here a batch whose entries
            // took that long on average.
            metrics?.slowApplies.increment()
            logger.warning("apply request took too long", metadata: [
                "took": "\(Int(applySeconds * 1000))ms", "expected-duration": "\(Int(Self.slowApplySeconds * 1000))ms",
                "entries": "\(fresh.count)", "first-index": "\(fresh.first!.index)",
            ])
        }
        guard let outcome = applied else {
            // Stopping while the backend refused: not applied, not acknowledged; the log holds them.
            for p in proposals { p?.completion(.failure(.stopped)) }
            return
        }
        let last = fresh.last!
        appliedIndex = last.index
        published.withLock {
            $0.appliedIndex = last.index
            $0.appliedTerm = last.term
        }

        var membershipChanged = false
        var removedSelf = false
        var becameLeading = false
        var alarmsChanged = false
        var leasesTouched = false
        for (i, result) in outcome.results.enumerated() {
            switch decoded[i] {
            case .empty:
                // A leader's first entry of its term: it may now act on leases (etcd promotes
                // its lessor when it applies this entry).
                if isLeader {
                    applier.leases.lessor.promote(extendNanoseconds: electionTimeoutNanoseconds)
                    becameLeading = true
                }
            case .request(let r):
                if r.alarm != nil { alarmsChanged = true }
                if Lessor.touchesLeases(r) { leasesTouched = true }
                if r.v2 != nil || r.clusterVersionSet != nil || r.clusterMemberAttrSet != nil || r.downgradeInfoSet != nil { membershipChanged = true }
            case .v2, .confChange:
                membershipChanged = true
            case .confChangeV2, .undecodable:
                break
            }
            if case .success(.confChange(let cc, _)) = result {
                applyToRaft(cc)
                if cc.type == .removeNode && cc.nodeID == configuration.memberID { removedSelf = true }
            }
        }
        if alarmsChanged {
            do { try applier.alarms.publish(from: store) } catch {
                logger.error("cannot reload alarms", metadata: ["error": "\(error)"])
            }
        }
        if membershipChanged {
            do {
                try membership.publish(from: store)
                onMembershipApplied?(membership.current)
            } catch {
                logger.error("cannot reload the membership", metadata: ["error": "\(error)"])
            }
        }
        // Watchers hear of the batch once it is committed, before the writers are answered (so a
        // client that watches and then writes sees its own write's event before the response).
        let meta = store.meta
        watchHub?.publish(outcome.changes, currentRevision: meta.currentRevision, compactedRevision: meta.compactedRevision)
        metrics?.applied(outcome.results, changes: outcome.changes)
        if becameLeading { onLeading?() }
        if leasesTouched {
            applier.leases.lessor.published(decoded.lazy.map { $0.request ?? InternalRaftRequest() }, results: outcome.results)
        }
        for (i, p) in proposals.enumerated() {
            guard let p else { continue }
            if case .success(.confChange(_, let refusal?)) = outcome.results[i] {
                p.completion(.failure(refusal))
            } else {
                p.completion(outcome.results[i])
            }
        }
        maybeSnapshot()
        trimLog()
        if removedSelf { onRemoved?() }
    }

    /// Entries raft keeps in memory are dropped earlier than etcd drops them (etcd keeps
    /// everything since its last snapshot): a one-member cluster needs none of its applied
    /// entries; otherwise `snapshotCatchUpEntries` stay behind the applied index (a member that
    /// restarts after a short outage catches up from the log, not by a snapshot), and a leader
    /// also keeps whatever its active followers have not acknowledged. A follower that needs a
    /// dropped entry gets a snapshot. Done in steps of `trimStepEntries` so that copying the kept
    /// tail stays cheap.
    private func trimLog() {
        let first = raftStorage.firstIndex().rawValue
        var keepFrom = appliedIndex > configuration.snapshotCatchUpEntries ? appliedIndex - configuration.snapshotCatchUpEntries : 0
        let confState = rawNode.confState
        if confState.voters == [configuration.memberID] && confState.learners.isEmpty {
            // Alone: nothing to keep (the kept tail is empty, so this costs nothing each time).
            keepFrom = appliedIndex
        } else if isLeader {
            let status = rawNode.status
            var lowest = appliedIndex
            for (id, progress) in status.progress where id.rawValue != configuration.memberID && progress.recentActive {
                lowest = min(lowest, progress.match.rawValue)
            }
            keepFrom = min(keepFrom, lowest)
        }
        let alone = confState.voters == [configuration.memberID] && confState.learners.isEmpty
        guard keepFrom > first + (alone ? 0 : Self.trimStepEntries), keepFrom <= appliedIndex else { return }
        // Raft sends a follower that needs a dropped entry the storage's snapshot, which must
        // then stand at least where the log starts (the bridge sends the real state with it).
        if (try? raftStorage.snapshot().metadata.index) ?? 0 < keepFrom {
            _ = try? raftStorage.createSnapshot(at: LogIndex(keepFrom), confState: rawNode.confState, data: [])
        }
        try? raftStorage.compact(upTo: LogIndex(keepFrom))
    }

    /// etcd's `warnApplyDuration`.
    static let slowApplySeconds = 0.1

    /// When this leader last sent each follower a heartbeat (raft thread only).
    private var lastHeartbeat: [UInt64: Int64] = [:]

    /// etcd's heartbeat check: a leader that sends a follower its heartbeat more than two
    /// heartbeat intervals after the previous one is overloaded (a slow disk, most often); it is
    /// counted (`etcd_server_heartbeat_send_failures_total`) and logged as etcd logs it.
    private func checkHeartbeats(_ messages: [Message]) {
        guard isLeader else {
            if !lastHeartbeat.isEmpty { lastHeartbeat = [:] }
            return
        }
        let now = Self.now()
        for m in messages where m.type == .heartbeat {
            if let last = lastHeartbeat[m.to], now - last > 2 * tickNanoseconds {
                metrics?.heartbeatSendFailures.increment()
                logger.warning("leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk", metadata: [
                    "to": "\(hex(m.to))", "heartbeat-interval": "\(configuration.heartbeatMilliseconds)ms",
                    "expected-duration": "\(2 * configuration.heartbeatMilliseconds)ms",
                    "exceeded-duration": "\((now - last - 2 * tickNanoseconds) / 1_000_000)ms",
                ])
            }
            lastHeartbeat[m.to] = now
        }
    }

    /// Entries dropped from raft's memory at a time, at least.
    static let trimStepEntries: UInt64 = 1024

    private var electionTimeoutNanoseconds: Int64 {
        Int64(configuration.electionTicks) * tickNanoseconds
    }

    private func applyWithRetry(_ entries: [Entry], decoded: [CommittedEntry]) -> BatchApplier.Outcome? {
        var failures = 0
        while true {
            do {
                if let fault = applyFault?() { throw fault }
                let outcome = try batchApplier.apply(entries, decoded: decoded)
                if failures > 0 {
                    stalledFlag.store(false, ordering: .releasing)
                    logger.warning("backend applies entries again", metadata: ["retries": "\(failures)"])
                }
                return outcome
            } catch {
                // The entries are committed: they must be applied, in order, before anything
                // else. A backend that cannot write (a full disk) may recover when space is
                // freed: wait and retry, refusing new writes meanwhile. Corruption does not heal.
                if case LMDBError.corrupted = error {
                    logger.critical("failed to apply entries to the backend", metadata: ["error": "\(error)"])
                    fatalError("apply failed: \(error)")
                }
                failures += 1
                stallAttempts.add(1, ordering: .relaxed)
                if failures == 1 {
                    stalledFlag.store(true, ordering: .releasing)
                    logger.error("failed to apply entries to the backend; refusing writes until it succeeds", metadata: [
                        "error": "\(error)", "first-index": "\(entries.first?.index ?? 0)", "last-index": "\(entries.last?.index ?? 0)",
                    ])
                } else if failures % Self.stallLogEveryRetries == 0 {
                    logger.error("backend still cannot apply entries", metadata: ["error": "\(error)", "retries": "\(failures)"])
                }
                let stopping = condition.withLock { () -> Bool in
                    if !inbox.stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.stallRetryInterval)) }
                    return inbox.stopping
                }
                if stopping { return nil }
            }
        }
    }

    private func applyToRaft(_ cc: ConfChange) {
        do {
            try rawNode.applyConfChange(cc)
        } catch {
            logger.warning("raft refused a configuration change", metadata: ["member-id": "\(hex(cc.nodeID))", "error": "\(error)"])
        }
    }

    // MARK: snapshots

    /// The backend file a leader's snapshot at `index` came with (saved by the peer transport).
    func snapshotDBPath(index: UInt64) -> String {
        snapshots.directory + "/" + String(format: "%016llx.snap.db", index)
    }

    /// A snapshot from the leader (this member was too far behind for the log): its backend file
    /// replaces the store, everything cached from the store is read again, the WAL and the
    /// `.snap` file record it (the log continues after it), and raft's storage starts from it.
    /// Raft thread, before the Ready's entries are persisted.
    private func install(_ snapshot: Snapshot) {
        let index = snapshot.metadata.index
        let path = snapshotDBPath(index: index)
        logger.info("applying snapshot", metadata: ["incoming-leader-snapshot-index": "\(index)", "current-applied-index": "\(appliedIndex)"])
        guard FileManager.default.fileExists(atPath: path) else {
            // Raft took the snapshot; without its data this member cannot go on consistently.
            logger.critical("failed to open snapshot backend", metadata: ["path": "\(path)"])
            fatalError("snapshot backend \(path) is missing")
        }
        do {
            try store.environment.replace(with: path)
            try store.reload()
            try applier.alarms.publish(from: store)
            try membership.publish(from: store)
            let leases = try store.read { try applier.leases.store.records(in: $0.backend) }
            applier.leases.lessor.restore(leases)
            let meta = store.meta
            watchHub?.restore(currentRevision: meta.currentRevision, compactedRevision: meta.compactedRevision)
            metrics?.liveKeys.reset()
            precondition(meta.appliedIndex == index, "the snapshot's backend is at index \(meta.appliedIndex), its message says \(index)")
            try wal.saveSnapshotMarker(index: index, term: snapshot.metadata.term)
            if configuration.fsync { try wal.sync() }
            try snapshots.save(Snapshot(data: [], metadata: snapshot.metadata))
            try raftStorage.applySnapshot(Snapshot(data: [], metadata: snapshot.metadata))
        } catch {
            logger.critical("failed to apply a snapshot", metadata: ["index": "\(index)", "error": "\(error)"])
            fatalError("failed to apply snapshot at \(index): \(error)")
        }
        appliedIndex = index
        snapshotIndex = index
        published.withLock {
            $0.appliedIndex = index
            $0.appliedTerm = snapshot.metadata.term
            $0.commitIndex = max($0.commitIndex, index)
        }
        // Proposals this member made may be inside the snapshot (applied) or not (lost with the
        // log it replaced): their entries will never be applied here. Their proposers learn the
        // outcome is unknown now rather than after the request timeout.
        for (_, w) in waiters { w.proposal.completion(.failure(.timeout)) }
        waiters = [:]
        onMembershipApplied?(membership.current)
        logger.info("applied snapshot", metadata: ["snapshot-index": "\(index)"])
    }

    /// Every `--snapshot-count` applied entries: flush the backend (the WAL before this point is
    /// then no longer needed), record a snapshot, trim raft's in-memory log (keeping
    /// `snapshotCatchUpEntries` for followers a little behind) and release old WAL segments.
    private func maybeSnapshot() {
        guard appliedIndex - snapshotIndex >= configuration.snapshotCount else { return }
        let index = appliedIndex
        do {
            if configuration.fsync { try store.environment.sync() }
            let term = (try? raftStorage.term(at: LogIndex(index)).rawValue) ?? store.meta.appliedTerm
            let confState = rawNode.confState
            // Marker first, then the .snap file: a marker without its file is harmless (the
            // backend holds the state); a file without a marker would name an unknown point.
            try wal.saveSnapshotMarker(index: index, term: term)
            if configuration.fsync { try wal.sync() }
            try snapshots.save(Snapshot(data: [], metadata: SnapshotMetadata(confState: confState, index: index, term: term)))
            if configuration.maxSnapshots > 0 { _ = try snapshots.prune(maxSnapshotsKept: configuration.maxSnapshots) }
            _ = try? raftStorage.createSnapshot(at: LogIndex(index), confState: confState, data: [])
            if index > configuration.snapshotCatchUpEntries {
                let compactTo = index - configuration.snapshotCatchUpEntries
                if compactTo > raftStorage.firstIndex().rawValue { try? raftStorage.compact(upTo: LogIndex(compactTo)) }
            }
            _ = try wal.releaseSegments(before: index, maxSegmentsKept: configuration.maxWALs > 0 ? configuration.maxWALs : Int.max)
            snapshotIndex = index
            logger.info("saved snapshot", metadata: ["snapshot-index": "\(index)"])
        } catch {
            logger.warning("failed to save snapshot", metadata: ["error": "\(error)"])
        }
    }
}

/// A linearizable read waiting for its read index (see `ReadIndexBatcher`).
struct ReadWaiter: Sendable {
    let completion: @Sendable (Result<Void, EtcdError>) -> Void
}

/// A MoveLeader waiting for its transferee to lead.
struct LeaderTransfer {
    let transferee: UInt64
    let completion: @Sendable (Result<Void, EtcdError>) -> Void
    var deadline: Int64 = .max
}

enum RaftNodeError: Error {
    case cannotStart(String)
}

/// Something the raft thread runs when it is due (`RaftNode.timer`). Raft thread only.
protocol RaftLoopTimer: AnyObject {
    /// Nanoseconds until `fire` has work: nil when nothing is scheduled, ≤ 0 when due now.
    /// May be early (then `fire` finds nothing), never late.
    func nanosecondsUntilDue() -> Int64?
    func fire()
}

extension NSCondition {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
