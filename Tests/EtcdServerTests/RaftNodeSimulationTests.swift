import EtcdProto
import Foundation
import MVCC
import Raft
import Storage
import Synchronization
import Testing
@testable import EtcdServer

/// A network between in-process members whose faults come from a seed: per-link cuts,
/// message loss, duplication (of everything but forwarded proposals) and delay (a delayed message
/// arrives after later ones: reordering).
///
/// Threading: `deliver` runs on the senders' raft threads; the seeded generator and the fault
/// settings are behind one lock, so the fault *decisions* follow the seed while the order in
/// which threads ask for them does not (the nodes are real threads: a seed fixes the schedule of
/// faults and requests, not every interleaving).
final class FaultyNetwork: TestNetwork, @unchecked Sendable {
    struct Faults {
        var lossPerMille = 0
        var duplicatePerMille = 0
        var delayPerMille = 0
        /// Links cut, as (from, to); a cut is one-directional so that asymmetric partitions exist.
        var cut: Set<[UInt64]> = []
    }

    private let state: Mutex<(nodes: [UInt64: RaftNode], faults: Faults, random: SeededRandom)>
    private let delayQueue = DispatchQueue(label: "faulty-network-delays")

    init(seed: UInt64) {
        state = Mutex(([:], Faults(), SeededRandom(seed: seed ^ 0x6E65_7477_6F72_6B00)))
    }

    func register(_ id: UInt64, _ node: RaftNode) { state.withLock { $0.nodes[id] = node } }
    func unregister(_ id: UInt64) { state.withLock { _ = $0.nodes.removeValue(forKey: id) } }
    func update(_ change: (inout Faults) -> Void) { state.withLock { change(&$0.faults) } }
    var faults: Faults { state.withLock { $0.faults } }

    func deliver(_ messages: [Message], from: UInt64) {
        for m in messages {
            let (target, sender, copies, delayed) = state.withLock { s -> (RaftNode?, RaftNode?, Int, Bool) in
                let f = s.faults
                if f.cut.contains([from, m.to]) || s.random.below(1000) < f.lossPerMille { return (nil, nil, 0, false) }
                // A forwarded proposal is not duplicated: raft does not deduplicate proposals
                // (etcd's neither; its TCP streams never deliver a message twice), so a copy
                // would be a second write.
                let copies = m.type != .prop && s.random.below(1000) < f.duplicatePerMille ? 2 : 1
                return (s.nodes[m.to], s.nodes[from], copies, s.random.below(1000) < f.delayPerMille)
            }
            guard let target else { continue }
            if m.type == .snap {
                // No backend file travels here (the log is never trimmed in these tests).
                sender?.reportSnapshot(m.to, status: .failed)
                continue
            }
            for _ in 0..<copies {
                if delayed {
                    delayQueue.asyncAfter(deadline: .now() + .milliseconds(15)) { [weak self] in
                        // Still registered (not stopped meanwhile) and the link still up.
                        guard let self else { return }
                        let node = self.state.withLock { $0.faults.cut.contains([from, m.to]) ? nil : $0.nodes[m.to] }
                        node?.step(m)
                    }
                } else {
                    target.step(m)
                }
            }
        }
    }

}

/// Seeded fault runs of three real `RaftNode`s (stores, WALs, raft threads) over `FaultyNetwork`:
/// puts through random members while links are cut one way or both, messages are lost,
/// duplicated and reordered, and members restart on their files; linearizable reads through
/// random members. After every run all faults are healed and the checks are a user's:
///
/// - safety: every acknowledged put is on every member, at the revision its answer carried; no
///   two acknowledged puts share a revision; a linearizable read started after a put was
///   acknowledged sees it; the stores end equal (revision, applied index, HashKV).
/// - liveness: once healed, a put through each member commits.
///
/// The Raft core has its own deterministic simulator (`RaftTests`, `raft-sim`); this one checks
/// the node loop around it (WAL, apply, answers by request ID, held proposals, restarts).
@Suite(.serialized) struct RaftNodeSimulationTests {
    /// Six seeds by default; `RAFTNODE_SIM_SEEDS=FIRST-LAST` for a longer run.
    static let seeds: [UInt64] = {
        let spec = ProcessInfo.processInfo.environment["RAFTNODE_SIM_SEEDS"] ?? "1-6"
        let bounds = spec.split(separator: "-").compactMap { UInt64($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return [1, 2, 3, 4, 5, 6] }
        return Array(bounds[0]...bounds[1])
    }()

    /// What a put's completion recorded.
    struct Acked {
        var key: String
        var value: String
        var revision: Int64
        /// Monotonic time of the acknowledgement.
        var at: UInt64
    }

    final class Run: @unchecked Sendable {
        let seed: UInt64
        var random: SeededRandom
        let dir = NSTemporaryDirectory() + "raftnode-sim-\(UUID().uuidString)"
        let network: FaultyNetwork
        var members: [SimMember] = []
        let acked = Mutex<[Acked]>([])
        let outstanding = DispatchGroup()
        private var nextRequestID: UInt64 = 1
        private var puts = 0
        private(set) var readsChecked = 0

        init(seed: UInt64) throws {
            self.seed = seed
            random = SeededRandom(seed: seed)
            network = FaultyNetwork(seed: seed)
            members = try (1...3).map { try SimMember(id: UInt64($0), dir: dir + "/m\($0)", network: network) }
        }

        deinit {
            for m in members where m.running { m.stop() }
            try? FileManager.default.removeItem(atPath: dir)
        }

        func chance(_ perMille: Int) -> Bool { random.below(1000) < perMille }
        func pick<T>(_ items: [T]) -> T { items[random.below(items.count)] }
        var running: [SimMember] { members.filter(\.running) }

        /// A put with a unique key and value through `member`, answered asynchronously.
        func put(through member: SimMember) {
            puts += 1
            let key = "k\(puts)", value = "v\(puts)-s\(seed)"
            let requestID = nextRequestID
            nextRequestID += 1
            outstanding.enter()
            member.propose(key: key, value: value, requestID: requestID) { [self] result in
                if case .success(let revision) = result {
                    self.acked.withLock { $0.append(Acked(key: key, value: value, revision: revision, at: DispatchTime.now().uptimeNanoseconds)) }
                }
                self.outstanding.leave()
            }
        }

        /// A linearizable read through `member` of the newest put acknowledged before it starts:
        /// when the read succeeds, the member's store must hold that put.
        func readCheck(through member: SimMember) {
            guard let newest = acked.withLock({ $0.max { $0.at < $1.at } }) else { return }
            let result = member.linearizableRead(key: newest.key)
            guard case .success(let kv) = result else { return }  // refused (no leader, timeout): allowed
            readsChecked += 1
            #expect(kv?.modRevision == newest.revision && kv?.value == Array(newest.value.utf8),
                    "seed \(seed): read through m\(member.id) after \(newest.key)@\(newest.revision) was acknowledged saw \(String(describing: kv))")
        }

        func step() throws {
            let roll = random.below(1000)
            switch roll {
            case 0..<450:
                let from = running
                if !from.isEmpty { put(through: pick(from)) }
            case 450..<520:
                let from = running
                if !from.isEmpty { readCheck(through: pick(from)) }
            case 520..<580:
                // Cut one member off, both ways or only one way.
                let victim = UInt64(1 + random.below(3))
                let oneWay = chance(300)
                let outbound = chance(500)
                network.update { f in
                    for other in 1...3 where UInt64(other) != victim {
                        if !oneWay || outbound { f.cut.insert([victim, UInt64(other)]) }
                        if !oneWay || !outbound { f.cut.insert([UInt64(other), victim]) }
                    }
                }
            case 580..<640:
                network.update { $0.cut = [] }
            case 640..<690:
                let loss = pick([0, 0, 50, 200]), dup = pick([0, 30, 100]), delay = pick([0, 50, 200])
                network.update { f in
                    f.lossPerMille = loss
                    f.duplicatePerMille = dup
                    f.delayPerMille = delay
                }
            case 690..<730:
                // Restart a member on its files (never two down: a majority stays up).
                if running.count == 3 {
                    let m = pick(members)
                    m.stop()
                    usleep(UInt32(random.below(80)) * 1000)
                    try m.start()
                }
            default:
                // Time passes: elections, heartbeats and retries happen at their own pace.
                usleep(UInt32(5 + random.below(40)) * 1000)
            }
        }

        func heal() {
            network.update { $0 = FaultyNetwork.Faults() }
        }
    }

    @Test(arguments: seeds)
    func seededFaultsLoseNoAcknowledgedWriteAndHealedMembersConverge(seed: UInt64) throws {
        let run = try Run(seed: seed)
        for _ in 0..<150 { try run.step() }
        run.heal()
        // Every proposal is answered: committed, or failed by its timeout or a stop.
        #expect(run.outstanding.wait(timeout: .now() + 30) == .success, "seed \(seed): proposals never answered")

        // Liveness: a put through each member commits once the network is whole.
        for m in run.members {
            var committed = false
            try waitFor(seconds: 30, "a put through m\(m.id) to commit (seed \(seed))") {
                if case .success = m.putAndWait(key: "final-m\(m.id)", value: "x", requestID: 1_000_000 + m.id * 1000 + UInt64.random(in: 0..<1000)) {
                    committed = true
                }
                return committed
            }
        }
        try waitFor(seconds: 30, "equal stores (seed \(seed))") {
            let ms = run.members
            guard Set(ms.map { $0.store.meta.currentRevision }).count == 1,
                  Set(ms.map { $0.store.meta.appliedIndex }).count == 1 else { return false }
            return Set(ms.compactMap { try? $0.store.hashKV(revision: 0).hash }).count == 1
        }

        let acked = run.acked.withLock { $0 }
        #expect(acked.count > 10, "seed \(seed): too few puts acknowledged (\(acked.count)) to mean anything")
        #expect(Set(acked.map(\.revision)).count == acked.count, "seed \(seed): two acknowledged puts share a revision")
        for m in run.members {
            for a in acked {
                let kv = try m.store.read { try $0.range(KeyRange(key: Array(a.key.utf8), rangeEnd: []), options: RangeOptions()) }.kvs.first
                #expect(kv?.modRevision == a.revision && kv?.value == Array(a.value.utf8),
                        "seed \(seed): m\(m.id) lost \(a.key)@\(a.revision) (has \(String(describing: kv)))")
            }
        }
    }
}

/// `TestMember` with asynchronous proposals and linearizable reads, on `FaultyNetwork`, with a
/// short request timeout (proposals to a cut-off member fail instead of waiting).
final class SimMember: @unchecked Sendable {
    let id: UInt64
    let dir: String
    let network: FaultyNetwork
    private(set) var store: MVCCStore!
    private var env: LMDBEnvironment!
    private var node: RaftNode!
    private var wal: WriteAheadLog?
    private(set) var running = false

    init(id: UInt64, dir: String, network: FaultyNetwork) throws {
        self.id = id
        self.dir = dir
        self.network = network
        try FileManager.default.createDirectory(atPath: dir + "/snap", withIntermediateDirectories: true)
        try start(new: true)
    }

    func start(new: Bool = false) throws {
        let parts = try TestMember.open(dir: dir, id: id, new: new, requestTimeoutNanoseconds: 1_000_000_000)
        (env, store, node, wal) = (parts.env, parts.store, parts.node, parts.wal)
        node.sender = TestSender(from: id, network: network)
        network.register(id, node)
        node.start()
        running = true
    }

    func stop() {
        network.unregister(id)
        node.stop()
        node.sender = nil
        try? wal?.close()
        env.close()
        running = false
    }

    func propose(key: String, value: String, requestID: UInt64, completion: @escaping @Sendable (Result<Int64, EtcdError>) -> Void) {
        var request = InternalRaftRequest()
        request.put = PutRequest(key: Array(key.utf8), value: Array(value.utf8))
        request.header = RequestHeader(id: requestID)
        node.propose(Proposal(request: request, data: request.serializedBytes()) { result in
            switch result {
            case .success(.put(let response)): completion(.success(response.header?.revision ?? 0))
            case .success(let other): completion(.failure(.other("unexpected \(other)")))
            case .failure(let error): completion(.failure(error))
            }
        })
    }

    func putAndWait(key: String, value: String, requestID: UInt64) -> Result<Int64, EtcdError> {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Int64, EtcdError>?>(nil)
        propose(key: key, value: value, requestID: requestID) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return outcome.withLock { $0 }!
    }

    /// ReadIndex through this member, then the key from its store (what a linearizable Range does).
    func linearizableRead(key: String) -> Result<KeyValue?, EtcdError> {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Void, EtcdError>?>(nil)
        node.read { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        switch outcome.withLock({ $0 })! {
        case .failure(let error): return .failure(error)
        case .success:
            do {
                return .success(try store.read { try $0.range(KeyRange(key: Array(key.utf8), rangeEnd: []), options: RangeOptions()) }.kvs.first)
            } catch {
                return .failure(.other("\(error)"))
            }
        }
    }
}
