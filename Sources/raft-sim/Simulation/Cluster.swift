import EtcdProto
import Raft

/// Settings every member of a simulated group starts with.
public struct NodeSettings: Sendable {
    public var electionTicks = 10
    public var heartbeatTicks = 1
    public var preVote = true
    public var checkQuorum = true
    public var maxInflightMessages = 256
    public var maxSizePerMessageBytes: UInt64 = 1024 * 1024
    public var maxUncommittedEntriesBytes: UInt64 = .max
    public var maxCommittedSizePerReadyBytes: UInt64 = 4 * 1024 * 1024

    public init() {}
}

/// One simulated member: its durable storage (survives crashes), its running `RawNode` (nil
/// while crashed) and its state machine (volatile: rebuilt from the snapshot on restart).
final class SimNode {
    let id: MemberID
    let storage: MemoryStorage
    var raw: RawNode?
    /// The index applied to the state machine, and its digest.
    var applied: LogIndex = .zero
    var digest: UInt64 = 0
    /// Commit index up to which the checker has verified this member's log.
    var checkedCommit: LogIndex = .zero
    var wasLeaderInTerm: Term?
    /// The membership as of `applied` (what a snapshot taken now must record).
    var confState = ConfState()
    /// The data of the last normal entry applied (the liveness check looks for its marker).
    var lastApplied = ""
    /// A Ready taken and not yet persisted (lost if the member crashes).
    var pendingReady: Ready?

    init(id: MemberID, storage: MemoryStorage) {
        self.id = id
        self.storage = storage
    }
}

/// A directed network link.
struct Link: Hashable, Comparable {
    var from: MemberID
    var to: MemberID
    static func < (a: Link, b: Link) -> Bool { (a.from, a.to) < (b.from, b.to) }
}

/// A simulated group: members, an in-memory network of per-link FIFO queues, and the safety
/// checker. Driven by commands (`execute`), which are the same for scripted scenarios and the
/// random simulator; every command is deterministic given the commands before it.
public final class Cluster {
    var nodes: [MemberID: SimNode] = [:]
    var queues: [Link: [Message]] = [:]
    var cutLinks: Set<Link> = []
    public var settings = NodeSettings()
    let checker = SafetyChecker()
    /// Seeds each member's election randomness (with its ID).
    var seed: UInt64 = 0
    /// The trace of what happened, when enabled.
    public var traceEnabled: Bool
    /// Also write each command line to the trace (for traces read without the script).
    public var echoCommands = false
    var traceLines: [String] = []
    var indentation = ""
    /// Commands executed so far (the replayable trace).
    public internal(set) var history: [Command] = []
    var violation: Violation?
    /// Messages delivered so far.
    var deliveredCount = 0

    public init(trace: Bool) {
        traceEnabled = trace
    }

    /// The members' IDs, ascending (kept as members are added).
    public private(set) var sortedIDs: [MemberID] = []

    func log(_ line: @autoclosure () -> String) {
        if traceEnabled { traceLines.append(indentation + line()) }
    }

    /// Takes the trace lines written since the last call.
    public func takeTrace() -> [String] {
        defer { traceLines.removeAll() }
        return traceLines
    }

    // MARK: members

    func makeConfig(_ node: SimNode, applied: LogIndex) -> RaftConfig {
        var cfg = RaftConfig(id: node.id, storage: node.storage, randomSeed: seed ^ (node.id.rawValue &* 0x2545_F491_4F6C_DD1D))
        cfg.electionTicks = settings.electionTicks
        cfg.heartbeatTicks = settings.heartbeatTicks
        cfg.preVote = settings.preVote
        cfg.checkQuorum = settings.checkQuorum
        cfg.maxInflightMessages = settings.maxInflightMessages
        cfg.maxSizePerMessageBytes = settings.maxSizePerMessageBytes
        cfg.maxUncommittedEntriesBytes = settings.maxUncommittedEntriesBytes
        cfg.maxCommittedSizePerReadyBytes = settings.maxCommittedSizePerReadyBytes
        cfg.applied = applied
        if traceEnabled {
            cfg.eventHandler = { [unowned self] event in self.log(event.description) }
        }
        return cfg
    }

    /// Starts (or restarts) a member from its storage. The state machine restarts from the
    /// snapshot; Raft hands the committed entries after it out again.
    func start(_ node: SimNode) throws(Violation) {
        let snap = node.storage.currentSnapshot
        node.applied = LogIndex(snap.metadata.index)
        node.digest = Self.digest(fromSnapshotData: snap.data)
        node.confState = snap.metadata.confState
        do {
            node.raw = try RawNode(config: makeConfig(node, applied: node.applied))
        } catch {
            throw Violation(kind: .internalError, detail: "member \(node.id) failed to start: \(error)")
        }
    }

    static func digest(fromSnapshotData data: [UInt8]) -> UInt64 {
        guard data.count == 8 else { return 0 }
        return data.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func snapshotData(digest: UInt64) -> [UInt8] {
        withUnsafeBytes(of: digest.bigEndian) { Array($0) }
    }

    /// Creates the initial members, bootstrapped with a snapshot at index 1 listing them.
    func bootstrap(voters: [MemberID], learners: [MemberID]) throws(Violation) {
        var cs = ConfState()
        cs.voters = voters.map(\.rawValue)
        cs.learners = learners.map(\.rawValue)
        for id in voters + learners {
            let storage = MemoryStorage()
            var snap = Snapshot()
            snap.metadata = SnapshotMetadata(confState: cs, index: 1, term: 1)
            snap.data = Self.snapshotData(digest: 0)
            try? storage.applySnapshot(snap)
            let node = SimNode(id: id, storage: storage)
            nodes[id] = node
            sortedIDs = nodes.keys.sorted()
            try start(node)
        }
    }

    /// A brand-new member with empty storage, to be added by a configuration change.
    func addEmptyNode(_ id: MemberID) throws(Violation) {
        guard nodes[id] == nil else { return }
        let node = SimNode(id: id, storage: MemoryStorage())
        nodes[id] = node
        sortedIDs = nodes.keys.sorted()
        try start(node)
    }

    // MARK: network

    /// Puts messages on the wire; those to unknown or crashed members or over cut links are lost.
    ///
    /// Like etcd's server, a snapshot is sent as the sender's state machine now (its applied
    /// index and membership), not the possibly older snapshot in its storage: a member added
    /// after that snapshot was taken would find itself missing from it and refuse it.
    func enqueue(_ messages: [Message]) {
        for var m in messages {
            if m.type == .snap, let sender = nodes[MemberID(m.from)] {
                let fresh = freshSnapshot(of: sender, atLeast: m.snapshot)
                if fresh.metadata.index != m.snapshot.metadata.index {
                    log("\(sender.id) sends its current state as the snapshot: index \(fresh.metadata.index)")
                    m.snapshot = fresh
                }
            }
            let link = Link(from: MemberID(m.from), to: MemberID(m.to))
            guard let target = nodes[link.to], target.raw != nil, !cutLinks.contains(link) else {
                lost(m)
                continue
            }
            queues[link, default: []].append(m)
        }
    }

    func freshSnapshot(of node: SimNode, atLeast stored: Snapshot) -> Snapshot {
        guard node.applied.rawValue > stored.metadata.index, let term = try? node.storage.term(at: node.applied) else { return stored }
        var s = Snapshot()
        s.metadata = SnapshotMetadata(confState: node.confState, index: node.applied.rawValue, term: term.rawValue)
        s.data = Self.snapshotData(digest: node.digest)
        return s
    }

    /// A message will never arrive. Like etcd's transport, tell the sender of a lost snapshot,
    /// which otherwise waits for its outcome forever.
    func lost(_ m: Message) {
        guard m.type == .snap, let sender = nodes[MemberID(m.from)], sender.raw != nil else { return }
        log("snapshot \(String(m.from, radix: 16))->\(String(m.to, radix: 16)) lost: reported to \(String(m.from, radix: 16))")
        sender.raw!.reportSnapshot(MemberID(m.to), status: .failed)
    }

    var pendingLinks: [Link] {
        var links: [Link] = []
        for (link, queue) in queues where !queue.isEmpty { links.append(link) }
        links.sort()
        return links
    }

    var hasPendingMessages: Bool {
        queues.values.contains { !$0.isEmpty }
    }

    var pendingMessageCount: Int {
        queues.values.reduce(0) { $0 + $1.count }
    }

    /// Delivers one message. `position` picks which one on the link (reordering); `duplicate`
    /// leaves a copy in place.
    func deliver(_ link: Link, position: Int = 0, duplicate: Bool = false) throws(Violation) {
        guard var queue = queues[link], position < queue.count else { return }
        let m = queue[position]
        if !duplicate {
            queue.remove(at: position)
            queues[link] = queue
        }
        guard let node = nodes[link.to], node.raw != nil else { return }
        deliveredCount += 1
        log(Describe.message(m) + (duplicate ? " (duplicate)" : ""))
        let saved = indentation
        indentation += "  "
        defer { indentation = saved }
        do {
            try node.raw!.step(m)
        } catch {
            log("step refused: \(error)")
        }
        try afterChange(node)
        if m.type == .snap && !duplicate, let sender = nodes[link.from], sender.raw != nil {
            sender.raw!.reportSnapshot(link.to, status: .finished)
            log("snapshot delivered: reported to \(link.from)")
        }
    }

    func drop(_ link: Link, position: Int = 0) {
        guard var queue = queues[link], position < queue.count else { return }
        let m = queue.remove(at: position)
        queues[link] = queue
        log("dropped " + Describe.message(m))
        lost(m)
    }

    /// Cuts every link between members of different groups and loses what is in flight on them.
    func partition(_ groups: [[MemberID]]) {
        var groupOf: [MemberID: Int] = [:]
        for (i, g) in groups.enumerated() { for id in g { groupOf[id] = i } }
        cutLinks = []
        for a in nodes.keys { for b in nodes.keys where a != b {
            if let ga = groupOf[a], let gb = groupOf[b], ga != gb { cutLinks.insert(Link(from: a, to: b)) }
        } }
        for link in cutLinks.sorted() {
            let lostMessages = queues[link] ?? []
            queues[link] = nil
            for m in lostMessages { lost(m) }
        }
    }

    func heal() {
        cutLinks = []
    }

    // MARK: processing a Ready

    /// Processes one Ready of `id` the way a server must: send what may go at once, persist,
    /// send what needed the persist, apply, advance.
    func processReady(_ id: MemberID) throws(Violation) {
        guard let node = nodes[id], node.raw != nil, node.pendingReady != nil || node.raw!.hasReady else { return }
        if node.pendingReady == nil { startReady(id) }
        try finishReady(id)
    }

    /// Takes a Ready and sends its `messages`; the persist (`finishReady`) comes later, and other
    /// inputs may reach the member meanwhile (as when a server writes asynchronously).
    func startReady(_ id: MemberID) {
        guard let node = nodes[id], node.raw != nil, node.pendingReady == nil, node.raw!.hasReady else { return }
        let rd = node.raw!.ready()
        node.pendingReady = rd
        log("> \(id) handling Ready" + (rd.mustSync ? " (sync)" : ""))
        let saved = indentation
        indentation += "  "
        defer { indentation = saved }
        if traceEnabled { for line in Describe.ready(rd) { log(line) } }
        enqueue(rd.messages)
    }

    /// Persists the pending Ready, sends `messagesAfterPersist`, applies, and advances.
    func finishReady(_ id: MemberID) throws(Violation) {
        guard let node = nodes[id], node.raw != nil, let rd = node.pendingReady else { return }
        node.pendingReady = nil
        let saved = indentation
        indentation += "  "
        defer { indentation = saved }

        if let snap = rd.snapshot {
            do {
                try node.storage.applySnapshot(snap)
            } catch {
                throw Violation(kind: .internalError, detail: "member \(id) was handed an out-of-date snapshot \(snap.metadata.index)")
            }
        }
        node.storage.append(rd.entries)
        if let hs = rd.hardState { node.storage.setHardState(hs) }
        try checker.observePersisted(id, entries: rd.entries, storage: node.storage)
        try checkDurableCommit(node)

        enqueue(rd.messagesAfterPersist)

        if let snap = rd.snapshot {
            node.applied = LogIndex(snap.metadata.index)
            node.digest = Self.digest(fromSnapshotData: snap.data)
            node.confState = snap.metadata.confState
            try checker.observeSnapshotApplied(id, index: node.applied, digest: node.digest)
        }
        for e in rd.committedEntries {
            guard LogIndex(e.index) == node.applied + 1 else {
                throw Violation(kind: .stateMachineSafety, detail: "member \(id) was handed entry \(e.index) to apply after \(node.applied)")
            }
            node.digest = SafetyChecker.digest(node.digest, e)
            node.applied = LogIndex(e.index)
            try checker.observeApplied(id, entry: e, digest: node.digest)
            if e.typeRaw == 0 && !e.data.isEmpty { node.lastApplied = String(decoding: e.data, as: UTF8.self) }
            applyConfChange(node, e)
        }
        for rs in rd.readStates { try checker.readAnswered(id, rs) }
        node.raw!.advance()
        try afterChange(node)
    }

    private func applyConfChange(_ node: SimNode, _ e: Entry) {
        do {
            switch e.type {
            case .confChange?:
                let cc = try ConfChange(serializedBytes: e.data)
                node.confState = try node.raw!.applyConfChange(cc)
            case .confChangeV2?:
                let cc = try ConfChangeV2(serializedBytes: e.data)
                node.confState = try node.raw!.applyConfChange(cc)
            default:
                return
            }
        } catch {
            log("conf change \(e.index) not applied: \(error)")
        }
    }

    func checkDurableCommit(_ node: SimNode) throws(Violation) {
        let commit = LogIndex(node.storage.hardState.commit)
        guard commit > node.checkedCommit else { return }
        try checker.observeCommitted(node.id, commit: commit, storage: node.storage, from: node.checkedCommit + 1)
        node.checkedCommit = commit
    }

    /// Checks that depend on a member's current role.
    func afterChange(_ node: SimNode) throws(Violation) {
        guard let raw = node.raw else { return }
        if raw.role == .leader {
            try checker.observeLeader(node.id, term: raw.term)
            if node.wasLeaderInTerm != raw.term {
                node.wasLeaderInTerm = raw.term
                try checker.checkLeaderCompleteness(node.id, node: raw)
            }
        }
    }

    // MARK: faults

    func crash(_ id: MemberID) {
        guard let node = nodes[id], node.raw != nil else { return }
        node.raw = nil
        node.pendingReady = nil
        node.wasLeaderInTerm = nil
        log("\(id) crashed")
        // What it sent is on the wire and may still arrive; what was on its way to it is lost.
        for link in queues.keys.sorted() where link.to == id {
            let lostMessages = queues[link] ?? []
            queues[link] = nil
            for m in lostMessages { lost(m) }
        }
    }

    func restart(_ id: MemberID) throws(Violation) {
        guard let node = nodes[id], node.raw == nil else { return }
        try start(node)
        log("\(id) restarted (term \(node.raw!.term), commit \(node.raw!.commitIndex), applied \(node.applied))")
    }

    /// Snapshots `id`'s state machine at its applied index and compacts its log, keeping
    /// `keep` entries before it.
    func compact(_ id: MemberID, keep: UInt64) {
        guard let node = nodes[id], node.raw != nil else { return }
        let at = node.applied
        guard at.rawValue > node.storage.currentSnapshot.metadata.index else { return }
        do {
            try node.storage.createSnapshot(at: at, confState: node.confState, data: Self.snapshotData(digest: node.digest))
            let upTo = at.rawValue > keep ? at - keep : at
            if upTo >= node.storage.firstIndex() { try node.storage.compact(upTo: upTo) }
            log("\(id) compacted: snapshot at \(at), first index now \(node.storage.firstIndex())")
        } catch {
            log("\(id) compaction failed: \(error)")
        }
    }
}
