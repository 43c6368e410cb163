import EtcdProto
import Foundation
import Logging
import MVCC
import Storage
import Testing
@testable import EtcdServer

/// The batch apply path over a real LMDB store: an entry whose request fails after it has written
/// is applied as a no-op, the rest of its batch is applied, and the outcome is the same however
/// the log is cut into batches (a replay, or another member).
@Suite struct BatchApplierTests {
    final class Fixture {
        let dir = NSTemporaryDirectory() + "batch-applier-\(UUID().uuidString)"
        let env: LMDBEnvironment
        let store: MVCCStore
        let batches: BatchApplier

        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            env = try LMDBEnvironment(path: dir + "/db", mapSizeBytes: 32 << 20, maxReaders: 16, maxDatabases: 8)
            store = try MVCCStore(environment: env)
            let leaseStore = try LeaseStore(store: store)
            let lessor = Lessor(minTTLSeconds: 2, clock: ManualLeaseClock())
            let applier = Applier(logger: Logger(label: "test"), alarms: try AlarmStore(store: store),
                                  leases: LeaseApplier(store: leaseStore, lessor: lessor))
            batches = BatchApplier(store: store, applier: applier, logger: Logger(label: "test"))
        }

        deinit {
            env.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        func apply(_ entries: [Entry]) throws -> [Result<ApplyResult, EtcdError>] {
            try batches.apply(entries).results
        }

        func keys() throws -> [String] {
            try store.read { view in
                try view.range(KeyRange(key: [0], rangeEnd: [0]), options: RangeOptions()).kvs.map { String(decoding: $0.key, as: UTF8.self) }
            }
        }
    }

    /// A txn that deletes a key and then puts it with ignore_value: its checks see the key (they
    /// run on the state before the txn), its put does not. The client edge refuses a put and a
    /// delete of one key in one txn, but an entry in the log was never checked there (etcd's
    /// applier panics on this one). It fails after its delete has written.
    static func entries() -> [Entry] {
        var first = InternalRaftRequest()
        first.put = PutRequest(key: Array("before".utf8), value: Array("1".utf8))
        var broken = InternalRaftRequest()
        var txn = TxnRequest()
        txn.success = [RequestOp(.requestDeleteRange(DeleteRangeRequest(key: Array("before".utf8)))),
                       RequestOp(.requestPut(PutRequest(key: Array("before".utf8), value: [], ignoreValue: true)))]
        broken.txn = txn
        var last = InternalRaftRequest()
        last.put = PutRequest(key: Array("after".utf8), value: Array("2".utf8))
        return [first, broken, last].enumerated().map { i, r in
            Entry(term: 1, index: UInt64(i + 1), type: .normal, data: r.serializedBytes())
        }
    }

    @Test func anEntryThatFailsAfterWritingIsANoOpAndTheRestOfTheBatchApplies() throws {
        let f = try Fixture()
        let results = try f.apply(Self.entries())
        guard case .failure(let error) = results[1] else { Issue.record("the broken txn succeeded"); return }
        #expect(error == .keyNotFound)
        if case .failure = results[0] { Issue.record("first put failed") }
        if case .failure = results[2] { Issue.record("last put failed") }
        // Nothing of the broken txn is stored, and it took no revision.
        #expect(try f.keys() == ["after", "before"])
        #expect(f.store.meta.currentRevision == 3)
        #expect(f.store.meta.appliedIndex == 3)
    }

    @Test func theOutcomeDoesNotDependOnHowTheLogIsCutIntoBatches() throws {
        let whole = try Fixture()
        _ = try whole.apply(Self.entries())
        let split = try Fixture()
        for entry in Self.entries() { _ = try split.apply([entry]) }
        #expect(try whole.keys() == split.keys())
        #expect(whole.store.meta == split.store.meta)
    }
}
