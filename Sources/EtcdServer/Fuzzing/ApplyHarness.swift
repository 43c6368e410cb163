import EtcdProto
import Foundation
import Logging
import MVCC
import Storage

/// The apply path without the server around it, for the apply fuzzer (`Sources/FuzzApply`):
/// a fresh store in a directory of its own, the same `BatchApplier`, `Applier` and `Lessor` the
/// raft thread drives, and a clock that moves only when told. Nothing here is used by the server.
///
/// Single-threaded: one harness belongs to the thread that made it.
@_spi(Fuzzing) public final class ApplyHarness {
    private let directory: String
    private let environment: LMDBEnvironment
    private let store: MVCCStore
    private let leaseStore: LeaseStore
    private var lessor: Lessor
    private var clock = SteppedLeaseClock()
    private var batches: BatchApplier
    private var nextIndex: UInt64 = 1
    private let logger = Logger(label: "swetcd-fuzz-apply", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Small: fuzz inputs are small, and every input gets a fresh environment.
    static let mapSizeBytes = 64 << 20
    static let minTTLSeconds: Int64 = 2

    /// Opens a fresh store under `directory` (created; must not exist).
    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        environment = try LMDBEnvironment(path: directory + "/db", mapSizeBytes: Self.mapSizeBytes, maxReaders: 8, maxDatabases: 16)
        store = try MVCCStore(environment: environment)
        leaseStore = try LeaseStore(store: store)
        (lessor, batches) = try Self.applyPath(store: store, leaseStore: leaseStore, clock: clock, logger: logger)
    }

    private static func applyPath(store: MVCCStore, leaseStore: LeaseStore, clock: SteppedLeaseClock, logger: Logger) throws -> (Lessor, BatchApplier) {
        let lessor = Lessor(minTTLSeconds: Self.minTTLSeconds, clock: clock)
        let applier = Applier(logger: logger, alarms: try AlarmStore(store: store),
                              leases: LeaseApplier(store: leaseStore, lessor: lessor))
        lessor.promote(extendNanoseconds: 0)
        return (lessor, BatchApplier(store: store, applier: applier, logger: logger))
    }

    /// Empties the store and starts the apply path afresh, as a new harness would (without
    /// creating a new environment: what makes the fuzzer fast).
    public func reset() throws {
        let tables = store.tables
        let attachments = leaseStore.attachments
        try store.write { txn in
            for table in [tables.revisions, tables.history, tables.meta, attachments] { try txn.backend.drop(table) }
        }
        // The store keeps the counters of its last commit: one more (empty) commit reads them
        // from the now empty tables.
        try store.write { _ in }
        precondition(store.meta == MVCCMeta(), "a reset store is not empty")
        nextIndex = 1
        clock = SteppedLeaseClock()
        (lessor, batches) = try Self.applyPath(store: store, leaseStore: leaseStore, clock: clock, logger: logger)
    }

    /// Closes the store and removes its directory.
    public func close() {
        environment.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Applies `payloads` as log entries (one batch), as the raft thread does: apply in one
    /// transaction, then the lessor follows the committed results. Returns each entry's outcome
    /// as etcd's gRPC status text ("OK" or "code: message"), for comparing two harnesses.
    public func apply(batch payloads: [[UInt8]]) throws -> [String] {
        var entries: [Entry] = []
        for data in payloads {
            entries.append(Entry(term: 1, index: nextIndex, type: .normal, data: data))
            nextIndex += 1
        }
        let decoded = entries.map { CommittedEntry.decode($0) }
        let outcome = try batches.apply(entries, decoded: decoded)
        lessor.published(decoded.map { $0.request ?? InternalRaftRequest() }, results: outcome.results)
        return outcome.results.map { result in
            switch result {
            case .success: return "OK"
            case .failure(let error): return "\(error.status.code): \(error.status.message)"
            }
        }
    }

    /// Moves the lease clock and runs an expiry round's query (what the raft thread's timer
    /// asks), returning the leases found expired.
    public func advanceClock(seconds: Int64) -> [Int64] {
        clock.advance(nanoseconds: LeaseTable.deadline(0, seconds: seconds))
        _ = lessor.nanosecondsUntilNextDeadline
        return lessor.takeExpired(limit: LeaseTable.revokeLimitPerRound)
    }

    /// What a client can read back, as one comparable value: the counters, every live key-value,
    /// the hash of the whole history and the leases' remaining TTLs. Reading it must not fail.
    public func observable() throws -> String {
        let meta = store.meta
        let (kvs, hash) = try store.read { view in
            (try view.range(KeyRange(key: [0], rangeEnd: [0]), options: RangeOptions()).kvs, try view.hashKV(revision: 0))
        }
        let leases = lessor.idsByExpiry().map { id in "\(id):\(lessor.timeToLive(id).map { "\($0.ttlSeconds)/\($0.grantedTTLSeconds)" } ?? "-")" }
        return "rev=\(meta.currentRevision) compacted=\(meta.compactedRevision) applied=\(meta.appliedIndex) "
            + "keys=\(kvs.map { "\($0.key)@\($0.modRevision)v\($0.version)" }) hash=\(hash.hash) leases=\(leases)"
    }
}

/// A lease clock that moves only when the harness says so (saturating, as deadlines do).
final class SteppedLeaseClock: LeaseClock, @unchecked Sendable {
    private var now: Int64 = 0
    var nowNanoseconds: Int64 { now }
    func advance(nanoseconds: Int64) { now = LeaseTable.saturatingSum(now, max(0, nanoseconds)) }
}
