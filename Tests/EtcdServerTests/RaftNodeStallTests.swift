import EtcdProto
import Foundation
import Logging
import MVCC
import Storage
import Raft
import Synchronization
import Testing
@testable import EtcdServer

/// Polls `condition` (what a test waits for) until it holds, or fails after `seconds`.
func waitFor(seconds: Double = 20, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            Issue.record("timed out waiting\(what.isEmpty ? "" : " for \(what)")", sourceLocation: sourceLocation)
            throw WaitTimedOut()
        }
        usleep(2_000)
    }
}

struct WaitTimedOut: Error {}

/// A one-member `RaftNode` over a fresh store in `dir` (bootstrapped as etcd bootstraps a new
/// cluster), started and leading.
func startSingleMemberNode(dir: String, mapSizeBytes: Int, applyFault: (@Sendable () -> (any Error)?)? = nil) throws -> (RaftNode, MVCCStore, LMDBEnvironment) {
    try FileManager.default.createDirectory(atPath: dir + "/wal", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/snap", withIntermediateDirectories: true)
    let env = try LMDBEnvironment(path: dir + "/snap/db", mapSizeBytes: mapSizeBytes, maxReaders: 16, maxDatabases: 16)
    let store = try MVCCStore(environment: env)
    let logger = Logger(label: "test")
    let wal = try WriteAheadLog.create(directory: dir + "/wal", metadata: [])
    let entries = RaftBootstrap.entries(members: [MemberRecord(id: 1, peerURLs: ["http://127.0.0.1:2380"], name: "m1")])
    let hardState = HardState(term: 1, vote: 0, commit: UInt64(entries.count))
    try wal.append(entries: entries, hardState: hardState)
    let storage = MemoryStorage()
    storage.append(entries)
    storage.setHardState(hardState)
    let leases = LeaseApplier(store: try LeaseStore(store: store), lessor: Lessor(minTTLSeconds: 5))
    let applier = Applier(logger: logger, alarms: try AlarmStore(store: store), leases: leases)
    let raft = try RaftNode(
        configuration: RaftNode.Configuration(
            memberID: 1, heartbeatMilliseconds: 100, electionTicks: 10, preVote: true, snapshotCount: 10_000,
            maxSnapshots: 1, maxWALs: 1, fsync: true, requestTimeoutNanoseconds: 60_000_000_000),
        store: store, wal: wal, snapshots: try SnapshotStore(directory: dir + "/snap"), raftStorage: storage, snapshotIndex: 0,
        applier: applier, membership: try MembershipStore(store: store), logger: logger)
    raft.applyFault = applyFault
    raft.start()
    try waitFor { raft.isSingletonLeader }
    return (raft, store, env)
}

/// The write path when the backend cannot write (what a full disk looks like to it): the batch
/// is neither answered nor dropped, new writes are refused (`isStalled`), and stopping answers it
/// `stopped` — where the loop used to end the process.
@Suite struct RaftNodeStallTests {
    @Test func aBatchTheBackendRefusesStallsTheLoopUntilItStops() throws {
        let dir = NSTemporaryDirectory() + "raftnode-stall-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A 1 MiB map that cannot grow: a 2 MiB value can never be applied.
        let (raft, store, env) = try startSingleMemberNode(dir: dir, mapSizeBytes: 1 << 20)
        defer { env.close() }

        let outcome = Mutex<Result<ApplyResult, EtcdError>?>(nil)
        var request = InternalRaftRequest()
        request.put = PutRequest(key: Array("big".utf8), value: [UInt8](repeating: 7, count: 2 << 20))
        request.header = RequestHeader(id: 1)
        raft.propose(Proposal(request: request, data: request.serializedBytes()) { result in
            outcome.withLock { $0 = result }
        })
        // Waits for the second failed attempt: the batch was retried, and still not answered.
        try waitFor { raft.stalledAttempts >= 2 }
        #expect(raft.isStalled)
        #expect(outcome.withLock { $0 } == nil, "neither answered nor dropped while stalled")
        #expect(store.meta.currentRevision == 1)
        raft.stop()
        let result = try #require(outcome.withLock { $0 })
        guard case .failure(.stopped) = result else {
            Issue.record("expected stopped, got \(result)")
            return
        }
    }

    /// The recovery the README promises: once the backend writes again, the stalled batch is
    /// applied and answered, in order, and writes are accepted again.
    @Test func aStalledBatchIsAppliedOnceTheBackendRecovers() throws {
        let dir = NSTemporaryDirectory() + "raftnode-recover-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The disk is full (LMDB's ENOSPC) once the member leads, until the test frees it.
        let diskFull = Atomic<Bool>(false)
        let (raft, store, env) = try startSingleMemberNode(dir: dir, mapSizeBytes: 32 << 20) {
            diskFull.load(ordering: .acquiring) ? LMDBError.other(code: ENOSPC, operation: "mdb_txn_commit") : nil
        }
        defer { env.close() }
        defer { raft.stop() }
        diskFull.store(true, ordering: .releasing)

        let outcomes = Mutex<[Int: Result<ApplyResult, EtcdError>]>([:])
        func put(_ i: Int) {
            var request = InternalRaftRequest()
            request.put = PutRequest(key: Array("k\(i)".utf8), value: Array("v\(i)".utf8))
            request.header = RequestHeader(id: UInt64(i + 1))
            raft.propose(Proposal(request: request, data: request.serializedBytes()) { result in
                outcomes.withLock { $0[i] = result }
            })
        }
        put(0)
        try waitFor { raft.stalledAttempts >= 2 }
        #expect(raft.isStalled && outcomes.withLock { $0.isEmpty })
        put(1)  // queued behind the stalled batch
        diskFull.store(false, ordering: .releasing)
        try waitFor { outcomes.withLock { $0.count } == 2 }
        #expect(!raft.isStalled)
        let revisions = outcomes.withLock { $0 }.sorted { $0.key < $1.key }.map { entry -> Int64? in
            guard case .success(.put(let response)) = entry.value else { return nil }
            return response.header?.revision
        }
        #expect(revisions == [2, 3], "applied in order once the backend writes")
        #expect(store.meta.currentRevision == 3)

        // The queue is bounded: behind a stalled batch, proposal `queuedProposalsMax + 1` is
        // answered etcd's "too many requests" at once; the queued ones are applied on recovery.
        diskFull.store(true, ordering: .releasing)
        let attempts = raft.stalledAttempts
        put(2)
        try waitFor { raft.stalledAttempts > attempts }
        for i in 3..<(3 + RaftNode.queuedProposalsMax + 1) { put(i) }
        let refused = outcomes.withLock { $0[3 + RaftNode.queuedProposalsMax] }
        guard case .failure(.tooManyRequests)? = refused else {
            Issue.record("expected too many requests, got \(String(describing: refused))")
            return
        }
        diskFull.store(false, ordering: .releasing)
        do { try waitFor { outcomes.withLock { $0.count } == 3 + RaftNode.queuedProposalsMax + 1 } } catch { Issue.record("outcomes \(outcomes.withLock { $0.count }) of \(3 + RaftNode.queuedProposalsMax + 1), stalled \(raft.isStalled)"); throw error }
        #expect(store.meta.currentRevision == 3 + 1 + Int64(RaftNode.queuedProposalsMax))
    }
}
