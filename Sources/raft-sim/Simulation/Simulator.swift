import EtcdProto
import Raft

/// A seeded random simulation of a Raft group under faults (TigerBeetle's VOPR, in miniature).
///
/// One seed decides everything: the group size (3–7), the settings, the fault rates, and every
/// step — message delivery (with loss, duplication, reordering and delay, which is simply a
/// message waiting in its queue), Ready processing, ticks, proposals, reads, crashes with restart
/// from persisted state, partitions, membership changes, compactions and leadership transfers.
/// The safety checker runs after every step. The run ends with a liveness phase: all faults are
/// healed and the group must commit and apply a final entry on every member.
///
/// Each step is a `Command`, so a run is a scenario: a failing trace replays exactly, shrinks by
/// deleting commands, and can be pasted into a scenario file.
public final class Simulator {
    public let seed: UInt64
    var random: SeededRandom
    let cluster: Cluster
    let steps: Int

    // Fault rates, per mille, drawn from the seed.
    let lossPerMille: Int
    let duplicatePerMille: Int
    let reorderPerMille: Int

    var nextMemberID: UInt64
    let maxMemberID: UInt64
    let actionRates: [(Action, Int)]
    /// Per mille of steps on which time passes although messages or Readies are pending.
    let slowNetworkPerMille: Int
    /// Per mille of Readies whose persist is left pending while other steps run.
    let asyncWritePerMille: Int
    var proposals = 0
    var reads = 0
    var confChanges = 0

    public struct Failure: Error, CustomStringConvertible {
        public var seed: UInt64
        public var violation: Violation
        public var trace: [Command]
        public var description: String { "seed \(seed): \(violation) after \(trace.count) commands" }
    }

    public init(seed: UInt64, steps: Int, trace: Bool = false) {
        self.seed = seed
        self.steps = steps
        random = SeededRandom(seed: seed)
        cluster = Cluster(trace: trace)
        cluster.echoCommands = trace
        lossPerMille = [0, 0, 20, 50, 150][random.below(5)]
        duplicatePerMille = [0, 10, 50][random.below(3)]
        reorderPerMille = [0, 50, 200][random.below(3)]
        nextMemberID = 0
        maxMemberID = 9
        actionRates = Self.rates(&random)
        slowNetworkPerMille = [5, 20, 60][random.below(3)]
        asyncWritePerMille = [0, 200, 600][random.below(3)]
    }

    /// Runs the simulation; returns the failure, if any.
    public func run(liveness: Bool = true) -> Failure? {
        do {
            try setUp()
            for _ in 0..<steps { try step() }
            if liveness { try livenessPhase() }
            return nil
        } catch {
            return Failure(seed: seed, violation: error, trace: cluster.history)
        }
    }

    func exec(_ command: Command) throws(Violation) {
        try cluster.execute(command)
    }

    private func setUp() throws(Violation) {
        let voters = 3 + random.below(5)
        let learners = random.below(4) == 0 ? 1 : 0
        var options: [String: String] = ["seed": String(seed)]
        if random.below(4) == 0 { options["prevote"] = "false" }
        if random.below(4) == 0 { options["checkquorum"] = "false" }
        options["heartbeat"] = ["1", "1", "2"][random.below(3)]
        options["election"] = ["6", "10"][random.below(2)]
        options["inflight"] = String([2, 4, 256][random.below(3)])
        options["max-msg-bytes"] = String([0, 40, 1024 * 1024][random.below(3)])
        if random.below(4) == 0 { options["max-uncommitted-bytes"] = "64" }
        if random.below(4) == 0 { options["max-committed-per-ready"] = "30" }
        nextMemberID = UInt64(voters + learners) + 1
        try exec(.addNodes(voters: voters, learners: learners, options: options))
    }

    // MARK: picking

    private func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[random.below(items.count)]
    }

    private var running: [MemberID] {
        cluster.sortedIDs.filter { cluster.nodes[$0]!.raw != nil }
    }

    private var crashed: [MemberID] {
        cluster.sortedIDs.filter { cluster.nodes[$0]!.raw == nil }
    }

    /// The running member that leads the highest term, if any.
    private var leader: MemberID? {
        var best: (MemberID, Term)?
        for id in running {
            let raw = cluster.nodes[id]!.raw!
            if raw.role == .leader, best == nil || raw.term > best!.1 { best = (id, raw.term) }
        }
        return best?.0
    }

    private func chance(_ perMille: Int) -> Bool { random.below(1000) < perMille }

    // MARK: one random step

    /// What a random step does besides moving messages and Readies. Rates are per thousand steps
    /// and vary by seed, so that some seeds are calm (long stretches of progress) and some stormy.
    enum Action: CaseIterable {
        case propose, read, crash, restart, partition, heal, changeMembership, compact
        case transferLeader, campaign, tickOne, reportUnreachable, reportSnapshot
    }

    static func rates(_ random: inout SeededRandom) -> [(Action, Int)] {
        [
            (.propose, [20, 50, 120][random.below(3)]), (.read, [5, 15][random.below(2)]),
            (.crash, [0, 1, 3, 6][random.below(4)]), (.restart, 10),
            (.partition, [0, 1, 3, 6][random.below(4)]), (.heal, [3, 10][random.below(2)]),
            (.changeMembership, [0, 4, 10][random.below(3)]), (.compact, [2, 8, 20][random.below(3)]),
            (.transferLeader, 2), (.campaign, 2), (.tickOne, 5), (.reportUnreachable, 2), (.reportSnapshot, 1),
        ]
    }

    /// One step: maybe a fault or a request (at the seed's rates); otherwise the system moves —
    /// a Ready is processed or a message delivered — and time (a tick on every member) passes
    /// when nothing is left to move, or now and then even when something is (a slow network:
    /// timeouts race with messages in flight).
    private func step() throws(Violation) {
        var roll = random.below(1000)
        for (action, rate) in actionRates {
            if roll < rate { return try perform(action) }
            roll -= rate
        }
        var readies: [MemberID] = []
        for id in cluster.sortedIDs {
            let node = cluster.nodes[id]!
            if node.pendingReady != nil || node.raw?.hasReady == true { readies.append(id) }
        }
        let messagesPending = cluster.hasPendingMessages
        if (readies.isEmpty && !messagesPending) || chance(slowNetworkPerMille) {
            return try exec(.tickAll(count: 1))
        }
        if !readies.isEmpty && (!messagesPending || chance(500)) {
            let id = pick(readies)!
            if cluster.nodes[id]!.pendingReady != nil {
                return try exec(.readyFinish(id))
            }
            // Sometimes the write takes a while: other inputs reach the member before it ends.
            return try exec(chance(asyncWritePerMille) ? .readyStart(id) : .ready(id))
        }
        try deliverSomething()
    }

    private func perform(_ action: Action) throws(Violation) {
        switch action {
        case .propose: try proposeSomething()
        case .read:
            if let id = pick(running) {
                reads += 1
                try exec(.readIndex(id, context: "r\(reads)"))
            }
        case .crash:
            if running.count > 1, let id = pick(running) {
                if cluster.nodes[id]!.pendingReady == nil && cluster.nodes[id]!.raw!.hasReady && chance(500) {
                    try exec(.crashDuringReady(id))
                } else {
                    try exec(.crash(id))
                }
            }
        case .restart:
            if let id = pick(crashed) { try exec(.restart(id)) }
        case .partition: try partitionSomehow()
        case .heal: if !cluster.cutLinks.isEmpty { try exec(.heal) }
        case .changeMembership: try changeMembership()
        case .compact:
            if let id = pick(running) { try exec(.compact(id, keep: UInt64(random.below(6)))) }
        case .transferLeader:
            if let l = leader, let to = pick(cluster.nodes[l]!.raw!.confState.voters.map { MemberID($0) }) {
                try exec(.transferLeader(l, to: to))
            }
        case .campaign:
            if let id = pick(running) { try exec(.campaign(id)) }
        case .tickOne:
            if let id = pick(running) { try exec(.tick(id, count: 1)) }
        case .reportUnreachable:
            if let l = leader, let peer = pick(cluster.sortedIDs.filter { $0 != l }) {
                try exec(.reportUnreachable(l, peer: peer))
            }
        case .reportSnapshot:
            if let l = leader, let peer = pick(cluster.sortedIDs.filter { $0 != l }) {
                try exec(.reportSnapshot(l, peer: peer, ok: random.below(2) == 0))
            }
        }
    }

    private func deliverSomething() throws(Violation) {
        guard let link = pick(cluster.pendingLinks) else { return try exec(.tickAll(count: 1)) }
        let count = cluster.queues[link]!.count
        let position = chance(reorderPerMille) ? random.below(count) : 0
        if chance(lossPerMille) {
            try exec(.drop(from: link.from, to: link.to, position: position))
        } else {
            try exec(.deliver(from: link.from, to: link.to, position: position, duplicate: chance(duplicatePerMille)))
        }
    }

    private func proposeSomething() throws(Violation) {
        let target = chance(700) ? (leader ?? pick(running)) : pick(running)
        guard let id = target else { return }
        let n = 1 + (chance(300) ? random.below(4) : 0)
        var datas: [String] = []
        for _ in 0..<n {
            proposals += 1
            datas.append("p\(proposals)")
        }
        try exec(.propose(id, datas))
    }

    private func partitionSomehow() throws(Violation) {
        var ids = cluster.sortedIDs
        guard ids.count >= 2 else { return }
        if chance(500) {
            // Isolate one member (often the leader).
            let victim = (chance(500) ? leader : nil) ?? pick(ids)!
            try exec(.partition([[victim], ids.filter { $0 != victim }]))
            return
        }
        for i in stride(from: ids.count - 1, to: 0, by: -1) { ids.swapAt(i, random.below(i + 1)) }
        let cut = 1 + random.below(ids.count - 1)
        try exec(.partition([Array(ids[..<cut]).sorted(), Array(ids[cut...]).sorted()]))
    }

    private func changeMembership() throws(Violation) {
        guard confChanges < 12, let l = leader else { return }
        let cs = cluster.nodes[l]!.raw!.confState
        let voters = cs.voters.map { MemberID($0) }
        let learners = cs.learners.map { MemberID($0) }
        let proposer = chance(800) ? l : (pick(running) ?? l)
        var changes: [String] = []
        var transition = Command.ConfChangeTransitionName.auto
        switch random.below(7) {
        case 0, 1:
            // A brand-new member, as learner or voter.
            guard nextMemberID <= maxMemberID else { return }
            let id = MemberID(nextMemberID)
            nextMemberID += 1
            try exec(.addNode(id))
            changes = [(chance(500) ? "l" : "v") + id.description]
        case 2:
            guard let id = pick(learners) else { return }
            changes = ["v\(id)"]
        case 3:
            guard voters.count > 2, let id = pick(voters) else { return }
            changes = ["r\(id)"]
        case 4:
            guard let id = pick(learners) else { return }
            changes = ["r\(id)"]
        case 5:
            guard voters.count > 2, let id = pick(voters) else { return }
            changes = ["l\(id)"]
        default:
            // Replace a voter with a new one, through joint consensus.
            guard nextMemberID <= maxMemberID, voters.count > 2, let old = pick(voters) else { return }
            let id = MemberID(nextMemberID)
            nextMemberID += 1
            try exec(.addNode(id))
            changes = ["v\(id)", "r\(old)"]
            transition = chance(500) ? .auto : .implicit
        }
        confChanges += 1
        try exec(.proposeConfChange(proposer, transition: transition, v1: changes.count == 1 && chance(300), changes: changes))
    }

    // MARK: liveness

    /// Heals everything, restarts every crashed member, and requires the group to elect a leader
    /// and commit and apply a new entry on every member of its configuration (`check-liveness`).
    private func livenessPhase() throws(Violation) {
        try exec(.checkLiveness)
    }

    // MARK: replay and shrinking

    /// Replays `trace` on a fresh cluster; returns the violation and how many commands ran.
    public static func replay(_ trace: [Command], traceOutput: Bool = false) -> (Violation?, Int, Cluster) {
        let cluster = Cluster(trace: traceOutput)
        for (i, command) in trace.enumerated() {
            do {
                try cluster.execute(command)
            } catch {
                return (error, i + 1, cluster)
            }
        }
        return (nil, trace.count, cluster)
    }

    /// Deletes commands from a failing trace while it still fails with the same kind of
    /// violation (delta debugging, chunks halving down to single commands), within `budget`
    /// replays.
    public static func shrink(_ trace: [Command], kind: Violation.Kind, budget: Int = 5000) -> [Command] {
        var current = trace
        var replays = 0
        var chunk = Swift.max(current.count / 2, 1)
        while chunk >= 1 && replays < budget {
            var i = 1  // keep add-nodes
            var changed = false
            while i < current.count && replays < budget {
                let end = Swift.min(i + chunk, current.count)
                let candidate = Array(current[..<i] + current[end...])
                replays += 1
                let (violation, ran, _) = replay(candidate)
                if let violation, violation.kind == kind {
                    current = Array(candidate.prefix(ran))
                    changed = true
                } else {
                    i += chunk
                }
            }
            if !changed {
                if chunk == 1 { break }
                chunk /= 2
            }
        }
        return current
    }
}

extension Simulator {
    /// The commands run so far.
    public var history: [Command] { cluster.history }

    /// How much happened in the run: committed index, terms with a leader, reads answered.
    public var summary: String {
        "committed \(cluster.checker.maxCommitted), \(cluster.checker.leaderTerms) terms with a leader, \(cluster.checker.readsAnswered)/\(reads) reads answered, \(confChanges) conf changes proposed"
    }

    /// Prints the trace of the run so far (when created with `trace: true`), command by command.
    public func printTrace() {
        for line in cluster.takeTrace() { print(line) }
    }
}
