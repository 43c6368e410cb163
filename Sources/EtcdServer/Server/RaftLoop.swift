import EtcdProto
import Foundation
import Logging
import MVCC
import Storage
import Synchronization

/// The one thread that owns the log and the store's writer: it takes client proposals in
/// batches, makes them log entries, writes them to the WAL with one fdatasync per batch, applies
/// the batch to MVCC in one LMDB write transaction (recording the applied index in the same
/// transaction), and only then completes the proposals.
///
/// Ordering: request → log → fsync → apply → respond (DESIGN §2); nothing is acknowledged before
/// it is durable, and a restart replays exactly the durable entries above the applied index.
/// Everything here runs on the raft thread except `propose`, which any thread may call.
///
/// This single-member path is where Raft slots in: entries are appended at `lastIndex + 1` in the
/// current term and commit on the local fsync, which is what a one-voter Raft group does.
final class RaftLoop: @unchecked Sendable {
    struct State {
        var term: UInt64
        var lastIndex: UInt64
        var snapshotIndex: UInt64
    }

    /// Proposals taken per batch; bounds the batch's memory and the WAL write size.
    static let batchProposalsMax = 4096
    /// The longest the thread sleeps waiting for its timer before it looks again.
    static let timerWaitNanosecondsMax: Int64 = 3_600 * 1_000_000_000

    private let store: MVCCStore
    private let wal: WriteAheadLog
    private let snapshots: SnapshotStore
    private let logger: Logger
    private let snapshotCount: UInt64
    /// `--max-snapshots` / `--max-wals` (0: keep all).
    struct Retention {
        var maxSnapshots: Int
        var maxWALs: Int
    }
    private let retention: Retention
    /// False with `--unsafe-no-fsync`: the WAL and the backend are written but never synced.
    private let fsync: Bool
    private let applier: Applier
    private let batchApplier: BatchApplier
    /// Receives each committed batch's changes. Set before `start()`.
    var watchHub: WatchHub?
    private var state: State
    /// Work this thread does on its own schedule besides proposals (the leader's lease expiry
    /// round). Set before `start()`; raft thread only afterwards.
    var timer: (any RaftLoopTimer)?

    private let condition = NSCondition()
    private var queue: [Proposal] = []
    private var stopping = false
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)

    init(store: MVCCStore, wal: WriteAheadLog, snapshots: SnapshotStore, state: State,
         snapshotCount: UInt64, retention: Retention, fsync: Bool = true, applier: Applier, logger: Logger) {
        self.fsync = fsync
        self.retention = retention
        self.currentTerm = Atomic(state.term)
        self.store = store
        self.wal = wal
        self.snapshots = snapshots
        self.state = state
        self.snapshotCount = snapshotCount
        self.applier = applier
        self.batchApplier = BatchApplier(store: store, applier: applier, logger: logger)
        self.logger = logger
    }

    /// The current term, for response headers on every event loop (no lock on the hot path).
    var term: UInt64 { currentTerm.load(ordering: .relaxed) }
    private let currentTerm: Atomic<UInt64>

    // MARK: start-up replay

    /// Applies durable entries the store has not applied yet (those above its applied index), in
    /// one write transaction. Called once, before the thread starts.
    func replay(_ entries: [Entry]) throws {
        let applied = store.meta.appliedIndex
        let pending = entries.filter { $0.index > applied }
        guard !pending.isEmpty else { return }
        logger.info("replaying WAL entries", metadata: [
            "applied-index": "\(applied)", "entries": "\(pending.count)", "last-index": "\(pending.last!.index)",
        ])
        // In bounded batches, like the live path: one huge transaction would hold every dirty
        // page of the replay in memory at once.
        var start = pending.startIndex
        while start < pending.endIndex {
            let end = min(start + Self.batchProposalsMax, pending.endIndex)
            let run = Array(pending[start..<end])
            _ = try batchApplier.apply(run, proposals: Array(repeating: nil, count: run.count))
            start = end
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

    /// A failpoint (as etcd's gofail ones): when set, each attempt to apply a batch first asks
    /// it, and an error it returns fails that attempt as the backend would. Tests only; set
    /// before `start()`.
    var applyFault: (@Sendable () -> (any Error)?)?
    /// Failed attempts to apply a batch, since start. Any thread.
    var stalledAttempts: Int { stallAttempts.load(ordering: .relaxed) }
    private let stallAttempts = Atomic<Int>(0)

    /// True while applying to the backend fails (see `process`): writes are refused. Any thread.
    var isStalled: Bool { stalledFlag.load(ordering: .acquiring) }
    private let stalledFlag = Atomic<Bool>(false)
    /// Time between attempts to apply a batch the backend refused.
    static let stallRetryInterval: TimeInterval = 1
    static let stallLogEveryRetries = 60

    /// Waits `stallRetryInterval` (less if woken); true if the loop is stopping.
    private func waitForRetryOrStop() -> Bool {
        condition.withLock {
            if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.stallRetryInterval)) }
            return stopping
        }
    }

    /// Stops after the batch in progress; proposals still queued fail with "server stopped".
    func stop() {
        condition.withLock {
            stopping = true
            condition.signal()
        }
        if thread != nil { stopped.wait() }
    }

    /// Queues a write. Any thread.
    func propose(_ proposal: Proposal) {
        let refusal = condition.withLock { () -> EtcdError? in
            if stopping { return .stopped }
            // Bounded: a member that cannot keep up answers etcd's "too many requests" (etcd's
            // applied-behind-committed gap of 5000) rather than queueing without end.
            if queue.count >= Self.queuedProposalsMax || queuedBytes + proposal.data.count > Self.queuedProposalBytesMax {
                return .tooManyRequests
            }
            queue.append(proposal)
            queuedBytes += proposal.data.count
            if queue.count == 1 { condition.signal() }
            return nil
        }
        if let refusal { proposal.completion(.failure(refusal)) }
    }

    /// Proposals waiting for the thread, at most (etcd's `maxGapBetweenApplyAndCommitIndex`).
    static let queuedProposalsMax = 5000
    /// Bytes of proposals waiting, at most (5000 requests of etcd's default 1.5 MiB limit would
    /// be 7.5 GiB).
    static let queuedProposalBytesMax = 256 << 20
    /// Bytes of `queue`'s proposals. Under `condition`.
    private var queuedBytes = 0

    private enum Work {
        case batch([Proposal])
        /// The timer is due and no proposal is waiting.
        case timer
        case stop
    }

    private func run() {
        while true {
            let due = timer?.nanosecondsUntilDue()
            let work: Work = condition.withLock {
                if let due, queue.isEmpty && !stopping {
                    // A lease may be due in centuries (etcd's maximum TTL is 285 years), past
                    // what a timed wait can express: wait at most `timerWaitNanosecondsMax` and
                    // look again (the timer tolerates being asked early).
                    if due > 0 {
                        let wait = min(due, Self.timerWaitNanosecondsMax)
                        _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wait) / 1e9))
                    }
                    if queue.isEmpty && !stopping { return .timer }
                }
                while queue.isEmpty && !stopping { condition.wait() }
                if queue.isEmpty { return .stop }
                if queue.count <= Self.batchProposalsMax {
                    let b = queue
                    queue.removeAll(keepingCapacity: true)
                    queuedBytes = 0
                    return .batch(b)
                }
                let b = Array(queue.prefix(Self.batchProposalsMax))
                queue.removeFirst(Self.batchProposalsMax)
                queuedBytes -= b.reduce(0) { $0 + $1.data.count }
                precondition(queuedBytes >= 0, "queued bytes below zero")
                return .batch(b)
            }
            switch work {
            case .batch(let batch):
                process(batch)
                // Under a steady stream of batches the wait above never times out.
                if let due = timer?.nanosecondsUntilDue(), due <= 0 { timer?.fire() }
            case .timer:
                timer?.fire()
            case .stop:
                let rest = condition.withLock { () -> [Proposal] in
                    let r = queue
                    queue.removeAll()
                    queuedBytes = 0
                    return r
                }
                for p in rest { p.completion(.failure(.stopped)) }
                stopped.signal()
                return
            }
        }
    }

    /// Log, sync, apply, respond: one batch.
    private func process(_ batch: [Proposal]) {
        var entries: [Entry] = []
        entries.reserveCapacity(batch.count)
        var index = state.lastIndex
        for p in batch {
            index += 1
            entries.append(Entry(term: state.term, index: index, type: .normal, data: p.data))
        }
        do {
            try wal.append(entries: entries, hardState: HardState(term: state.term, vote: 0, commit: index))
            if fsync { try wal.sync() }
        } catch {
            // etcd treats a failed WAL write as fatal: nothing of this batch was acknowledged,
            // and continuing could acknowledge writes the log does not hold.
            logger.critical("failed to save raft entries to the WAL", metadata: ["error": "\(error)"])
            fatalError("WAL write failed: \(error)")
        }
        state.lastIndex = index

        var results: [Result<ApplyResult, EtcdError>] = []
        var changes: [MVCCChange] = []
        var failures = 0
        while true {
            do {
                if let fault = applyFault?() { throw fault }
                let outcome = try batchApplier.apply(entries, proposals: batch)
                results = outcome.results
                changes = outcome.changes
                break
            } catch {
                // The entries are in the log: they must be applied, in order, before anything
                // else. A backend that cannot write (a full disk: LMDB reports EIO or ENOSPC) may
                // recover when space is freed, so wait and retry; new writes are refused
                // meanwhile (`isStalled`), reads go on. Corruption does not heal: stop, and let
                // the restart replay the log.
                if case LMDBError.corrupted = error {
                    logger.critical("failed to apply entries to the backend", metadata: ["error": "\(error)"])
                    fatalError("apply failed: \(error)")
                }
                failures += 1
                stallAttempts.add(1, ordering: .relaxed)
                if failures == 1 {
                    stalledFlag.store(true, ordering: .releasing)
                    logger.error("failed to apply entries to the backend; refusing writes until it succeeds", metadata: [
                        "error": "\(error)", "first-index": "\(entries.first?.index ?? 0)", "last-index": "\(index)",
                    ])
                } else if failures % Self.stallLogEveryRetries == 0 {
                    logger.error("backend still cannot apply entries", metadata: ["error": "\(error)", "retries": "\(failures)"])
                }
                if waitForRetryOrStop() {
                    // Not applied, not acknowledged; the log still holds them for the restart.
                    for p in batch { p.completion(.failure(.stopped)) }
                    return
                }
            }
        }
        if failures > 0 {
            stalledFlag.store(false, ordering: .releasing)
            logger.warning("backend applies entries again", metadata: ["retries": "\(failures)"])
        }
        if batch.contains(where: { $0.request.alarm != nil }) {
            do { try applier.alarms.publish(from: store) } catch {
                logger.error("cannot reload alarms", metadata: ["error": "\(error)"])
            }
        }
        // Watchers hear of the batch once it is committed, before the writers are answered (so a
        // client that watches and then writes sees its own write's event before the response).
        let committed = store.meta
        watchHub?.publish(changes, currentRevision: committed.currentRevision, compactedRevision: committed.compactedRevision)
        if batch.contains(where: { Lessor.touchesLeases($0.request) }) {
            applier.leases.lessor.published(batch.lazy.map(\.request), results: results)
        }
        for (i, p) in batch.enumerated() { p.completion(results[i]) }
        maybeSnapshot(appliedIndex: index)
    }

    /// Every `--snapshot-count` applied entries: flush LMDB (so the WAL before this point is no
    /// longer needed), record a snapshot, and release old WAL segments.
    private func maybeSnapshot(appliedIndex: UInt64) {
        guard appliedIndex - state.snapshotIndex >= snapshotCount else { return }
        do {
            if fsync { try store.environment.sync() }
            // Marker first, then the .snap file: a marker without its file is harmless (the
            // backend holds the state); a file without a marker would name an unknown point.
            try wal.saveSnapshotMarker(index: appliedIndex, term: state.term)
            if fsync { try wal.sync() }
            let snapshot = Snapshot(data: [], metadata: SnapshotMetadata(confState: applier.confState, index: appliedIndex, term: state.term))
            try snapshots.save(snapshot)
            if retention.maxSnapshots > 0 { _ = try snapshots.prune(maxSnapshotsKept: retention.maxSnapshots) }
            _ = try wal.releaseSegments(before: appliedIndex, maxSegmentsKept: retention.maxWALs > 0 ? retention.maxWALs : Int.max)
            state.snapshotIndex = appliedIndex
            logger.info("saved snapshot", metadata: ["snapshot-index": "\(appliedIndex)"])
        } catch {
            logger.warning("failed to save snapshot", metadata: ["error": "\(error)"])
        }
    }
}

/// Something the raft thread runs when it is due (`RaftLoop.timer`). Raft thread only.
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
