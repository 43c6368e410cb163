import EtcdProto
import Foundation
import Logging
import MVCC
import Synchronization

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
/// Deliveries reach a session through its event loop (`WatchSession.deliver`), in the order
/// the hub produced them.
final class WatchHub: @unchecked Sendable {
    struct Watcher {
        var spec: WatchSpec
        /// Strong: a watcher keeps its session alive until it is removed.
        var session: WatchSession
        /// The next revision this watcher needs.
        var nextRevision: Int64
        var synced: Bool
    }

    struct State {
        var watchers: [WatcherKey: Watcher] = [:]
        /// Synced single-key watchers by key, and synced range watchers.
        var singleKey: [[UInt8]: Set<WatcherKey>] = [:]
        var ranges: Set<WatcherKey> = []
        var unsynced: Set<WatcherKey> = []
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

    init(store: MVCCStore, progressNotifyIntervalMilliseconds: Int, logger: Logger) {
        let meta = store.meta
        self.store = store
        self.logger = logger
        self.progressNotifyIntervalMilliseconds = progressNotifyIntervalMilliseconds
        state = Mutex(State(publishedRevision: meta.currentRevision, compactedRevision: meta.compactedRevision))
    }

    var publishedRevision: Int64 { state.withLock { $0.publishedRevision } }

    // MARK: watchers

    /// Registers a watcher. It is synced at once if it starts after the last published
    /// revision, otherwise it is caught up from storage first.
    func add(_ key: WatcherKey, spec: WatchSpec, session: WatchSession) {
        let needsCatchUp = state.withLock { s -> Bool in
            var w = Watcher(spec: spec, session: session, nextRevision: spec.startRevision, synced: false)
            if spec.startRevision > s.publishedRevision {
                w.synced = true
                s.watchers[key] = w
                Self.index(&s, key, spec)
                return false
            }
            s.watchers[key] = w
            s.unsynced.insert(key)
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

    /// Whether every watcher of `session` is synced (a progress request may be answered).
    func allSynced(session: UInt64) -> Bool {
        state.withLock { s in !s.unsynced.contains { $0.session == session } }
    }

    /// The session could not take more: the watcher falls back to catch-up from `revision`.
    func demote(_ key: WatcherKey, from revision: Int64) {
        state.withLock { s in
            guard var w = s.watchers[key] else { return }
            if w.synced {
                logger.debug("watcher fell behind; catching up from storage", metadata: ["watch-id": "\(key.watchID)", "from-revision": "\(revision)"])
                Self.unindex(&s, key, w.spec)
                w.synced = false
                w.nextRevision = revision
                s.watchers[key] = w
                s.unsynced.insert(key)
            } else {
                w.nextRevision = min(w.nextRevision, revision)
                s.watchers[key] = w
            }
        }
        signal()
    }

    private static func index(_ s: inout State, _ key: WatcherKey, _ spec: WatchSpec) {
        if case .single(let k) = spec.keys { s.singleKey[k, default: []].insert(key) } else { s.ranges.insert(key) }
    }

    private static func unindex(_ s: inout State, _ key: WatcherKey, _ spec: WatchSpec) {
        if case .single(let k) = spec.keys {
            s.singleKey[k]?.remove(key)
            if s.singleKey[k]?.isEmpty == true { s.singleKey[k] = nil }
        } else {
            s.ranges.remove(key)
        }
    }

    private static func drop(_ s: inout State, _ key: WatcherKey) {
        guard let w = s.watchers.removeValue(forKey: key) else { return }
        if w.synced { unindex(&s, key, w.spec) } else { s.unsynced.remove(key) }
    }

    // MARK: publishing (raft thread)

    /// Delivers an applied batch's changes (in revision order) to the synced watchers, one
    /// delivery per watcher per revision. Called after the batch is committed.
    func publish(_ changes: [MVCCChange], currentRevision: Int64, compactedRevision: Int64) {
        state.withLock { s in
            s.compactedRevision = compactedRevision
            if !changes.isEmpty && !s.watchers.isEmpty {
                var out: [ObjectIdentifier: (WatchSession, [WatchDelivery])] = [:]
                var start = 0
                while start < changes.count {
                    let revision = changes[start].kv.modRevision
                    var end = start + 1
                    while end < changes.count && changes[end].kv.modRevision == revision { end += 1 }
                    Self.route(&s, changes[start..<end], revision: revision, into: &out)
                    start = end
                }
                // Enqueued under the lock: a session sees deliveries in publish order, and after
                // any `resynced` the catch-up thread enqueued before.
                for (session, deliveries) in out.values { session.deliver(deliveries) }
            }
            s.publishedRevision = currentRevision
        }
    }

    /// One revision's changes to every synced watcher that wants any of them, collected per
    /// session so each session gets one event-loop task per publish.
    private static func route(_ s: inout State, _ changes: ArraySlice<MVCCChange>, revision: Int64,
                              into out: inout [ObjectIdentifier: (WatchSession, [WatchDelivery])]) {
        var matched: [WatcherKey: [EncodedChange]] = [:]
        for change in changes {
            var encoded: EncodedChange?
            func shared() -> EncodedChange {
                if let encoded { return encoded }
                let e = EncodedChange(change)
                encoded = e
                return e
            }
            if let keys = s.singleKey[change.kv.key] {
                for key in keys where s.watchers[key]!.spec.wants(change) { matched[key, default: []].append(shared()) }
            }
            for key in s.ranges where s.watchers[key]!.spec.wants(change) {
                matched[key, default: []].append(shared())
            }
        }
        for (key, events) in matched {
            let w = s.watchers[key]!
            if revision < w.nextRevision { continue }  // starts in the future
            let id = ObjectIdentifier(w.session)
            if out[id] == nil { out[id] = (w.session, []) }
            out[id]!.1.append(WatchDelivery(watchID: key.watchID, changes: events, revision: revision))
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

    /// One bounded step for every unsynced watcher whose stream has room.
    private func catchUpRound() {
        let (work, published, compacted) = state.withLock { s in
            (s.unsynced.compactMap { key in s.watchers[key].map { (key, $0) } }, s.publishedRevision, s.compactedRevision)
        }
        var more = false
        for (key, w) in work {
            if w.session.isCongested {
                w.session.refreshCongestionSoon()
                continue
            }
            if w.nextRevision < compacted && w.nextRevision <= published {
                w.session.compacted(watchID: key.watchID, compactRevision: compacted)
                remove(key)
                continue
            }
            var next = w.nextRevision
            if next <= published {
                let batch: HistoryBatch
                do {
                    batch = try store.read { view in
                        try view.history(from: next, to: published, limit: Self.catchUpChangesPerStep, withPrevKV: w.spec.prevKV)
                    }
                } catch MVCCError.compacted {
                    w.session.compacted(watchID: key.watchID, compactRevision: store.meta.compactedRevision)
                    remove(key)
                    continue
                } catch {
                    logger.error("watch catch-up read failed", metadata: ["error": "\(error)"])
                    continue
                }
                let wanted = batch.changes.filter { w.spec.wants($0) }.map(EncodedChange.init)
                if !wanted.isEmpty {
                    w.session.deliverCatchUp(watchID: key.watchID, changes: wanted, upTo: batch.nextRevision - 1, storeRevision: published)
                }
                next = batch.nextRevision
            }
            let nowSynced = state.withLock { s -> Bool in
                guard var current = s.watchers[key], !current.synced, current.nextRevision == w.nextRevision else { return false }
                current.nextRevision = next
                if next > s.publishedRevision {
                    current.synced = true
                    s.unsynced.remove(key)
                    Self.index(&s, key, current.spec)
                    s.watchers[key] = current
                    current.session.resynced(watchID: key.watchID)
                    return true
                }
                s.watchers[key] = current
                return false
            }
            if !nowSynced { more = true }
        }
        if more { signal() }
    }

    /// etcd's periodic progress notification: synced watchers that asked for it get an empty
    /// response carrying the current revision, every `--experimental-watch-progress-notify-interval`.
    private func progressNotifyIfDue() {
        let now = DispatchTime.now()
        let elapsedMilliseconds = Int((now.uptimeNanoseconds - lastProgressNotify.uptimeNanoseconds) / 1_000_000)
        guard elapsedMilliseconds >= progressNotifyIntervalMilliseconds else { return }
        lastProgressNotify = now
        state.withLock { s in
            for (key, w) in s.watchers where w.synced && w.spec.progressNotify {
                w.session.progressNotify(watchID: key.watchID, revision: s.publishedRevision)
            }
        }
    }
}
