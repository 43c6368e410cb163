import EtcdProto
import Foundation
import Logging
import MVCC
import Synchronization

/// One watcher as the hub tracks it. Fields are guarded by the hub's lock; `watch` is the
/// session's own record of the watcher, handed back with every delivery so the session needs no
/// lookup (it is only touched on the session's event loop).
final class HubWatcher: @unchecked Sendable {
    let key: WatcherKey
    let spec: WatchSpec
    /// Strong: a watcher keeps its session alive until it is removed.
    let session: WatchSession
    let watch: SessionWatch
    /// The next revision this watcher needs.
    var nextRevision: Int64
    var synced = false
    /// Changes matched in the revision being routed (scratch, empty between revisions).
    var matched: [EncodedChange] = []

    init(key: WatcherKey, spec: WatchSpec, session: WatchSession, watch: SessionWatch) {
        self.key = key
        self.spec = spec
        self.session = session
        self.watch = watch
        self.nextRevision = spec.startRevision
    }
}

/// Routes the store's changes to watchers (etcd's `watchableStore`).
///
/// Two groups, as in etcd: a **synced** watcher has seen every revision up to the last one
/// published and gets new changes as they are applied (`publish`, on the raft thread); an
/// **unsynced** watcher is behind — it started in the past, or its stream could not keep up —
/// and is caught up from the revision table by the hub's own thread, in bounded batches, then
/// moved to synced. Writes never wait for a watcher.
///
/// No event is lost or sent twice across the move: `publish` and the move both happen under the
/// hub's lock. The catch-up thread reads only revisions already published (so already committed),
/// and moves a watcher to synced only when its next revision is past the last published one;
/// anything published in between is read by its next catch-up round. Each session additionally
/// drops anything at or below what it already sent for a watcher.
///
/// Deliveries reach a session through its event loop (`WatchSession.deliver`), in the order the
/// hub produced them: one event-loop task per session per publish.
final class WatchHub: @unchecked Sendable {
    struct State {
        var watchers: [WatcherKey: HubWatcher] = [:]
        /// Synced single-key watchers by key, and synced range watchers.
        var singleKey: [[UInt8]: [HubWatcher]] = [:]
        var ranges: [HubWatcher] = []
        var unsynced: [WatcherKey: HubWatcher] = [:]
        var publishedRevision: Int64
        var compactedRevision: Int64
        var stopping = false
    }

    /// Changes read per catch-up step (a revision is never split, so a step may read more).
    static let catchUpChangesPerStep = 1000
    /// How often the catch-up thread wakes when nothing signals it.
    static let catchUpIdleWakeMilliseconds = 20

    private let state: Mutex<State>
    private let store: MVCCStore
    private let logger: Logger
    private let wake = NSCondition()
    private var wakePending = false
    private var thread: Thread?
    private let progressNotifyIntervalMilliseconds: Int
    private var lastProgressNotify = DispatchTime.now()
    /// Server-internal listeners (v3lock, v3election), told of every published batch after the
    /// watchers.
    let taps = KeyTaps()

    init(store: MVCCStore, progressNotifyIntervalMilliseconds: Int, logger: Logger) {
        let meta = store.meta
        self.store = store
        self.logger = logger
        self.progressNotifyIntervalMilliseconds = progressNotifyIntervalMilliseconds
        state = Mutex(State(publishedRevision: meta.currentRevision, compactedRevision: meta.compactedRevision))
    }

    var publishedRevision: Int64 { state.withLock { $0.publishedRevision } }
    var compactedRevision: Int64 { state.withLock { $0.compactedRevision } }

    // MARK: watchers

    /// Registers a watcher. It is synced at once if it starts after the last published
    /// revision, otherwise it is caught up from storage first.
    func add(_ key: WatcherKey, spec: WatchSpec, session: WatchSession, watch: SessionWatch) {
        let w = HubWatcher(key: key, spec: spec, session: session, watch: watch)
        let needsCatchUp = state.withLock { s -> Bool in
            s.watchers[key] = w
            if spec.startRevision > s.publishedRevision {
                w.synced = true
                Self.index(&s, w)
                return false
            }
            s.unsynced[key] = w
            return true
        }
        if needsCatchUp { signal() }
    }

    func remove(_ key: WatcherKey) {
        state.withLock { s in Self.drop(&s, key) }
    }

    func removeAll(session: UInt64) {
        state.withLock { s in
            for key in s.watchers.keys where key.session == session { Self.drop(&s, key) }
        }
    }

    /// Watchers, the streams they are on, and those behind (catching up from storage): the
    /// `etcd_debugging_mvcc_*` watcher gauges.
    func counts() -> (watchers: Int, streams: Int, unsynced: Int) {
        state.withLock { s in
            (s.watchers.count, Set(s.watchers.keys.map(\.session)).count, s.unsynced.count)
        }
    }

    /// Whether every watcher of `session` is synced (a progress request may be answered).
    func allSynced(session: UInt64) -> Bool {
        state.withLock { s in !s.unsynced.keys.contains { $0.session == session } }
    }

    /// The store was replaced by a snapshot from the leader: every synced watcher goes back to
    /// catch-up from the revision it needed next (read from the new history, or answered as
    /// compacted when the snapshot's history starts later), as etcd's `watchableStore.Restore`.
    func restore(currentRevision: Int64, compactedRevision: Int64) {
        state.withLock { s in
            for w in s.watchers.values where w.synced {
                Self.unindex(&s, w)
                w.synced = false
                w.nextRevision = s.publishedRevision + 1
                s.unsynced[w.key] = w
            }
            s.publishedRevision = currentRevision
            s.compactedRevision = compactedRevision
        }
        signal()
        taps.storeReplaced()
    }

    /// The session could not take more: the watcher falls back to catch-up from `revision`.
    func demote(_ key: WatcherKey, from revision: Int64) {
        state.withLock { s in
            guard let w = s.watchers[key] else { return }
            if w.synced {
                logger.debug("watcher fell behind; catching up from storage", metadata: ["watch-id": "\(key.watchID)", "from-revision": "\(revision)"])
                Self.unindex(&s, w)
                w.synced = false
                w.nextRevision = revision
                s.unsynced[key] = w
            } else {
                w.nextRevision = min(w.nextRevision, revision)
            }
        }
        signal()
    }

    private static func index(_ s: inout State, _ w: HubWatcher) {
        if case .single(let k) = w.spec.keys { s.singleKey[k, default: []].append(w) } else { s.ranges.append(w) }
    }

    private static func unindex(_ s: inout State, _ w: HubWatcher) {
        if case .single(let k) = w.spec.keys {
            s.singleKey[k]?.removeAll { $0 === w }
            if s.singleKey[k]?.isEmpty == true { s.singleKey[k] = nil }
        } else {
            s.ranges.removeAll { $0 === w }
        }
    }

    private static func drop(_ s: inout State, _ key: WatcherKey) {
        guard let w = s.watchers.removeValue(forKey: key) else { return }
        if w.synced { unindex(&s, w) } else { s.unsynced[key] = nil }
    }

    // MARK: publishing (raft thread)

    /// Delivers an applied batch's changes (in revision order) to the synced watchers, one
    /// delivery per watcher per revision. Called after the batch is committed.
    func publish(_ changes: [MVCCChange], currentRevision: Int64, compactedRevision: Int64) {
        state.withLock { s in
            s.compactedRevision = compactedRevision
            if !changes.isEmpty && !s.watchers.isEmpty {
                var sessions: [WatchSession] = []
                var start = 0
                while start < changes.count {
                    let revision = changes[start].kv.modRevision
                    var end = start + 1
                    while end < changes.count && changes[end].kv.modRevision == revision { end += 1 }
                    Self.route(&s, changes[start..<end], revision: revision, sessions: &sessions)
                    start = end
                }
                // Enqueued under the lock: a session sees deliveries in publish order, and after
                // any `resynced` the catch-up thread enqueued before.
                for session in sessions { session.flushDeliveries() }
            }
            s.publishedRevision = currentRevision
        }
        taps.publish(changes)
    }

    /// One revision's changes to every synced watcher that wants any of them. Each change is
    /// encoded once; no hashing per watcher (watchers carry their own scratch list).
    private static func route(_ s: inout State, _ changes: ArraySlice<MVCCChange>, revision: Int64, sessions: inout [WatchSession]) {
        if changes.count == 1 {
            // The common case (one put or delete per revision): every interested watcher gets the
            // same one-element list, built once.
            let change = changes.first!
            var shared: [EncodedChange]?
            func offer(_ w: HubWatcher) {
                guard revision >= w.nextRevision, w.spec.wants(change) else { return }
                if shared == nil { shared = [EncodedChange(change)] }
                if w.session.queueDelivery(WatchDelivery(watch: w.watch, changes: shared!, revision: revision)) {
                    sessions.append(w.session)
                }
            }
            if let list = s.singleKey[change.kv.key] { for w in list { offer(w) } }
            for w in s.ranges { offer(w) }
            return
        }
        var touched: [HubWatcher] = []
        for change in changes {
            var encoded: EncodedChange?
            func offer(_ w: HubWatcher) {
                guard w.spec.wants(change) else { return }
                if encoded == nil { encoded = EncodedChange(change) }
                if w.matched.isEmpty { touched.append(w) }
                w.matched.append(encoded!)
            }
            if let list = s.singleKey[change.kv.key] { for w in list { offer(w) } }
            for w in s.ranges { offer(w) }
        }
        for w in touched {
            let matched = w.matched
            w.matched = []
            if revision < w.nextRevision { continue }  // starts in the future
            if w.session.queueDelivery(WatchDelivery(watch: w.watch, changes: matched, revision: revision)) {
                sessions.append(w.session)
            }
        }
    }

    // MARK: catch-up thread

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "watch-sync"
        self.thread = thread
        thread.start()
    }

    func stop() {
        state.withLock { $0.stopping = true }
        signal()
    }

    func signal() {
        wake.lock()
        wakePending = true
        wake.signal()
        wake.unlock()
    }

    private func run() {
        while true {
            wake.lock()
            if !wakePending {
                _ = wake.wait(until: Date(timeIntervalSinceNow: Double(Self.catchUpIdleWakeMilliseconds) / 1000))
            }
            wakePending = false
            wake.unlock()
            if state.withLock({ $0.stopping }) { return }
            catchUpRound()
            progressNotifyIfDue()
        }
    }

    /// One bounded step of catch-up. As etcd's `syncWatchers` does, the history is read once,
    /// from the lowest revision any ready unsynced watcher needs, and each watcher takes the part
    /// at or above its own next revision; watchers whose streams are still congested wait.
    private func catchUpRound() {
        let (work, published, compacted) = state.withLock { s in
            (s.unsynced.values.map { ($0, $0.nextRevision) }, s.publishedRevision, s.compactedRevision)
        }
        guard !work.isEmpty else { return }
        var ready: [(HubWatcher, Int64)] = []
        for (w, next) in work {
            if w.session.isCongested {
                // Re-checked on its event loop; the idle wake-up retries, no spinning here.
                w.session.refreshCongestionSoon()
            } else if next < compacted && next <= published {
                w.session.compacted(w.watch, compactRevision: compacted)
                remove(w.key)
            } else {
                ready.append((w, next))
            }
        }
        guard !ready.isEmpty else { return }
        // Every ready watcher advances by up to one batch: the watchers are taken in order of
        // their next revision, and each history read serves all of them that start inside it.
        ready.sort { $0.1 < $1.1 }
        var progressed = false
        var i = 0
        while i < ready.count {
            // Revisions start at 1; a watcher that needs less was answered as compacted (or
            // started from now) when it was created.
            let from = max(ready[i].1, 1)
            var batch = HistoryBatch(changes: [], nextRevision: published + 1)
            if from <= published {
                let withPrevKV = ready[i...].contains { $0.0.spec.prevKV }
                do {
                    batch = try store.read { view in
                        try view.history(from: from, to: published, limit: Self.catchUpChangesPerStep, withPrevKV: withPrevKV)
                    }
                } catch MVCCError.compacted {
                    let compactedNow = store.meta.compactedRevision
                    for (w, _) in ready[i...] where w.nextRevision < compactedNow {
                        w.session.compacted(w.watch, compactRevision: compactedNow)
                        remove(w.key)
                    }
                    signal()
                    return
                } catch {
                    logger.error("watch catch-up read failed", metadata: ["error": "\(error)"])
                    return
                }
            }
            let encoded = batch.changes.map(EncodedChange.init)
            while i < ready.count && ready[i].1 < batch.nextRevision {
                let (w, next) = ready[i]
                i += 1
                let wanted = encoded.filter { $0.revision >= next && w.spec.wants($0.change) }
                if !wanted.isEmpty {
                    w.session.deliverCatchUp(w.watch, changes: wanted, upTo: batch.nextRevision - 1, storeRevision: published)
                }
                let advanced = batch.nextRevision
                state.withLock { s in
                    guard s.watchers[w.key] === w, !w.synced, w.nextRevision == next else { return }
                    w.nextRevision = advanced
                    if advanced > s.publishedRevision {
                        w.synced = true
                        s.unsynced[w.key] = nil
                        Self.index(&s, w)
                        w.session.resynced(w.watch)
                    }
                }
                progressed = progressed || advanced > next
            }
        }
        // More to read right away only if this round moved someone; congested streams are
        // retried when they drain (their session wakes this thread) or on the idle tick.
        if progressed { signal() }
    }

    /// etcd's periodic progress notification: synced watchers that asked for it get an empty
    /// response carrying the current revision, every `--experimental-watch-progress-notify-interval`,
    /// unless they received events since the last one.
    private func progressNotifyIfDue() {
        let now = DispatchTime.now()
        let elapsedMilliseconds = Int((now.uptimeNanoseconds - lastProgressNotify.uptimeNanoseconds) / 1_000_000)
        guard elapsedMilliseconds >= progressNotifyIntervalMilliseconds else { return }
        lastProgressNotify = now
        state.withLock { s in
            for w in s.watchers.values where w.synced && w.spec.progressNotify {
                w.session.progressNotify(w.watch, revision: s.publishedRevision)
            }
        }
    }
}
