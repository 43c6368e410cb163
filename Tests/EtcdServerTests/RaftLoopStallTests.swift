import EtcdProto
import Foundation
import Logging
import MVCC
import Storage
import Synchronization
import Testing
@testable import EtcdServer

/// The write path when the backend cannot write (what a full disk looks like to it): the batch
/// is neither answered nor dropped, new writes are refused (`isStalled`), and stopping answers it
/// `stopped` — where the loop used to end the process.
@Suite struct RaftLoopStallTests {
    @Test func aBatchTheBackendRefusesStallsTheLoopUntilItStops() throws {
        let dir = NSTemporaryDirectory() + "raftloop-stall-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/wal", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/snap", withIntermediateDirectories: true)
        // A 1 MiB map that cannot grow: a 2 MiB value can never be applied.
        let env = try LMDBEnvironment(path: dir + "/snap/db", mapSizeBytes: 1 << 20, maxReaders: 16, maxDatabases: 16)
        defer { env.close() }
        let store = try MVCCStore(environment: env)
        let logger = Logger(label: "test")
        let wal = try WriteAheadLog.create(directory: dir + "/wal", metadata: [])
        let alarms = try AlarmStore(store: store)
        let leases = LeaseApplier(store: try LeaseStore(store: store), lessor: Lessor(minTTLSeconds: 5))
        let applier = Applier(logger: logger, confState: ConfState(voters: [1]), alarms: alarms, leases: leases)
        let raft = RaftLoop(store: store, wal: wal, snapshots: try SnapshotStore(directory: dir + "/snap"),
                            state: .init(term: 1, lastIndex: 0, snapshotIndex: 0), snapshotCount: 10_000,
                            retention: .init(maxSnapshots: 1, maxWALs: 1), applier: applier, logger: logger)
        raft.start()

        let outcome = Mutex<Result<ApplyResult, EtcdError>?>(nil)
        var request = InternalRaftRequest()
        request.put = PutRequest(key: Array("big".utf8), value: [UInt8](repeating: 7, count: 2 << 20))
        raft.propose(Proposal(request: request, data: request.serializedBytes()) { result in
            outcome.withLock { $0 = result }
        })
        let deadline = Date().addingTimeInterval(10)
        while !raft.isStalled && Date() < deadline { usleep(10_000) }
        #expect(raft.isStalled)
        usleep(1_500_000)  // at least one retry
        #expect(outcome.withLock { $0 } == nil, "neither answered nor dropped while stalled")
        #expect(store.meta.currentRevision == 1)
        raft.stop()
        let result = try #require(outcome.withLock { $0 })
        guard case .failure(.stopped) = result else {
            Issue.record("expected stopped, got \(result)")
            return
        }
    }
}
