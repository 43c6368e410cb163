import EtcdProto
import Foundation
import Logging
import MVCC
import Raft
import Storage
import Synchronization
import Testing
@testable import EtcdServer

/// What the test senders deliver through: an in-process network between `RaftNode`s.
protocol TestNetwork: AnyObject, Sendable {
    func deliver(_ messages: [Message], from: UInt64)
}

/// A node's sender into a `TestNetwork`.
final class TestSender<Network: TestNetwork>: RaftMessageSender, Sendable {
    let from: UInt64
    let network: Network
    init(from: UInt64, network: Network) {
        self.from = from
        self.network = network
    }
    func send(_ messages: [Message]) { network.deliver(messages, from: from) }
}

/// Messages between in-process members, with a switch to cut a member off (both directions).
final class InProcessNetwork: TestNetwork, @unchecked Sendable {
    private let state = Mutex<(nodes: [UInt64: RaftNode], cut: Set<UInt64>)>(([:], []))

    func register(_ id: UInt64, _ node: RaftNode) { state.withLock { $0.nodes[id] = node } }
    func unregister(_ id: UInt64) { state.withLock { _ = $0.nodes.removeValue(forKey: id) } }
    func cutOff(_ id: UInt64) { state.withLock { _ = $0.cut.insert(id) } }
    func heal() { state.withLock { $0.cut = [] } }

    func deliver(_ messages: [Message], from: UInt64) {
        let (nodes, cut) = state.withLock { ($0.nodes, $0.cut) }
        for m in messages {
            guard !cut.contains(from), !cut.contains(m.to), let to = nodes[m.to] else { continue }
            if m.type == .snap {
                // No backend file travels here: the sender hears it failed.
                nodes[from]?.reportSnapshot(m.to, status: .failed)
                continue
            }
            to.step(m)
        }
    }

}

/// One member of an in-process cluster: a real store and WAL in a directory of its own, a real
/// `RaftNode` thread; it can be stopped and started again on the same files.
final class TestMember {
    static let members = (1...3).map { MemberRecord(id: UInt64($0), peerURLs: ["http://127.0.0.1:\(2380 + $0)"], name: "m\($0)") }

    let id: UInt64
    let dir: String
    let network: InProcessNetwork
    var env: LMDBEnvironment!
    var store: MVCCStore!
    var node: RaftNode!
    private var wal: WriteAheadLog!

    init(id: UInt64, dir: String, network: InProcessNetwork) throws {
        self.id = id
        self.dir = dir
        self.network = network
        try FileManager.default.createDirectory(atPath: dir + "/snap", withIntermediateDirectories: true)
        try start(new: true)
    }

    func start(new: Bool = false) throws {
        let parts = try Self.open(dir: dir, id: id, new: new, requestTimeoutNanoseconds: 10_000_000_000)
        (env, store, node, wal) = (parts.env, parts.store, parts.node, parts.wal)
        node.sender = TestSender(from: id, network: network)
        network.register(id, node)
        node.start()
    }

    /// Opens (or, when `new`, bootstraps as etcd does) member `id`'s store and WAL in `dir` and
    /// makes its `RaftNode`, not yet started and without a sender.
    static func open(dir: String, id: UInt64, new: Bool, requestTimeoutNanoseconds: Int64) throws
        -> (env: LMDBEnvironment, store: MVCCStore, node: RaftNode, wal: WriteAheadLog) {
        let env = try LMDBEnvironment(path: dir + "/snap/db", mapSizeBytes: 64 << 20, maxReaders: 64, maxDatabases: 16)
        let store = try MVCCStore(environment: env)
        let membership = try MembershipStore(store: store)
        let storage: MemoryStorage
        let wal: WriteAheadLog
        if new {
            let entries = RaftBootstrap.entries(members: Self.members)
            let hardState = HardState(term: 1, vote: 0, commit: UInt64(entries.count))
            wal = try WriteAheadLog.create(directory: dir + "/wal", metadata: [])
            try wal.append(entries: entries, hardState: hardState)
            try wal.sync()
            storage = MemoryStorage()
            storage.append(entries)
            storage.setHardState(hardState)
        } else {
            let (opened, contents) = try WriteAheadLog.open(directory: dir + "/wal", fromSnapshot: nil)
            wal = opened
            storage = MemoryStorage(confState: membership.current.confState)
            storage.append(contents.entries)
            var hs = contents.hardState
            hs.commit = min(max(hs.commit, store.meta.appliedIndex), storage.lastIndex().rawValue)
            storage.setHardState(hs)
        }
        let logger = Logger(label: "m\(id)")
        let leases = LeaseApplier(store: try LeaseStore(store: store), lessor: Lessor(minTTLSeconds: 5))
        let applier = Applier(logger: logger, alarms: try AlarmStore(store: store), leases: leases)
        let node = try RaftNode(
            configuration: RaftNode.Configuration(
                memberID: id, heartbeatMilliseconds: 10, electionTicks: 10, preVote: true, snapshotCount: 1_000_000,
                snapshotCatchUpEntries: 1_000_000, maxSnapshots: 1, maxWALs: 0, fsync: false,
                requestTimeoutNanoseconds: requestTimeoutNanoseconds),
            store: store, wal: wal, snapshots: try SnapshotStore(directory: dir + "/snap"), raftStorage: storage,
            snapshotIndex: 0, applier: applier, membership: membership, logger: logger)
        return (env, store, node, wal)
    }

    func stop() {
        network.unregister(id)
        node.stop()
        node.sender = nil
        try? wal.close()
        env.close()
    }

    /// A put proposed through this member; the revision it was applied at, or the error.
    func put(_ key: String, _ value: String, requestID: UInt64) -> Result<Int64, EtcdError> {
        var request = InternalRaftRequest()
        request.put = PutRequest(key: Array(key.utf8), value: Array(value.utf8))
        request.header = RequestHeader(id: requestID)
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<ApplyResult, EtcdError>?>(nil)
        node.propose(Proposal(request: request, data: request.serializedBytes()) { result in
            outcome.withLock { $0 = result }
            done.signal()
        })
        done.wait()
        switch outcome.withLock({ $0 })! {
        case .success(.put(let response)): return .success(response.header?.revision ?? 0)
        case .success(let other): return .failure(.other("unexpected \(other)"))
        case .failure(let error): return .failure(error)
        }
    }

    func hash() throws -> UInt32 { try store.hashKV(revision: 0).hash }
}

/// Three real `RaftNode`s (stores, WALs, threads) over an in-process network: elections,
/// proposals through any member, a partitioned leader replaced and caught up, a member restarted
/// on its files. The stores must end equal (revision and HashKV).
@Suite(.serialized) struct RaftNodeClusterTests {
    final class Cluster {
        let dir = NSTemporaryDirectory() + "raftnode-cluster-\(UUID().uuidString)"
        let network = InProcessNetwork()
        var members: [TestMember] = []
        private var nextRequestID: UInt64 = 1

        init() throws {
            members = try (1...3).map { try TestMember(id: UInt64($0), dir: dir + "/m\($0)", network: network) }
        }

        deinit {
            for m in members { m.stop() }
            try? FileManager.default.removeItem(atPath: dir)
        }

        func requestID() -> UInt64 {
            defer { nextRequestID += 1 }
            return nextRequestID
        }

        /// The member every running member agrees leads.
        func leader(among: [TestMember]? = nil) throws -> TestMember {
            let candidates = among ?? members
            var found: TestMember?
            try waitFor("an agreed leader") {
                let leaders = Set(candidates.map { $0.node.leaderID })
                guard leaders.count == 1, let l = leaders.first, l != 0 else { return false }
                found = candidates.first { $0.id == l }
                return found != nil
            }
            return found!
        }

        func converged(_ who: [TestMember]? = nil) throws {
            let ms = who ?? members
            try waitFor("equal stores") {
                let revisions = Set(ms.map { $0.store.meta.currentRevision })
                let applied = Set(ms.map { $0.store.meta.appliedIndex })
                guard revisions.count == 1, applied.count == 1 else { return false }
                return Set(ms.compactMap { try? $0.hash() }).count == 1
            }
        }
    }

    @Test func writesThroughAnyMemberCommitAndEveryStoreEndsEqual() throws {
        let c = try Cluster()
        _ = try c.leader()
        var revisions: [Int64] = []
        for i in 0..<30 {
            let through = c.members[i % 3]
            let result = through.put("k\(i % 7)", "v\(i)", requestID: c.requestID())
            guard case .success(let rev) = result else {
                Issue.record("put through m\(through.id) failed: \(result)")
                return
            }
            revisions.append(rev)
        }
        #expect(revisions == Array(2...31).map(Int64.init), "one revision per put, in order, whoever proposed")
        try c.converged()
        for m in c.members {
            let value = try m.store.read { try $0.range(KeyRange(key: Array("k1".utf8), rangeEnd: []), options: RangeOptions()) }.kvs.first?.value
            #expect(value == Array("v29".utf8))
        }
    }

    @Test func aPartitionedLeaderIsReplacedAndCatchesUpWhenHealed() throws {
        let c = try Cluster()
        let old = try c.leader()
        for i in 0..<5 { _ = old.put("before", "\(i)", requestID: c.requestID()) }
        c.network.cutOff(old.id)
        let rest = c.members.filter { $0 !== old }
        let new = try c.leader(among: rest)
        #expect(new.id != old.id)
        for i in 0..<10 {
            guard case .success = rest[i % 2].put("during", "\(i)", requestID: c.requestID()) else {
                Issue.record("a put through the majority failed")
                return
            }
        }
        // The cut-off member's own writes cannot commit (it times out or learns it lost).
        c.network.heal()
        try c.converged()
        let during = try old.store.read { try $0.range(KeyRange(key: Array("during".utf8), rangeEnd: []), options: RangeOptions()) }
        #expect(during.kvs.first?.value == Array("9".utf8))
        #expect(old.node.leaderID == new.id || old.node.leaderID != 0)
    }

    @Test func aRestartedFollowerReplaysItsLogAndCatchesUp() throws {
        let c = try Cluster()
        let leader = try c.leader()
        let follower = c.members.first { $0 !== leader }!
        for i in 0..<10 { _ = leader.put("a\(i)", "x", requestID: c.requestID()) }
        try c.converged()
        follower.stop()
        for i in 0..<10 { _ = leader.put("b\(i)", "y", requestID: c.requestID()) }
        try follower.start()
        try c.converged()
        #expect(follower.store.meta.currentRevision == 21)
    }
}
