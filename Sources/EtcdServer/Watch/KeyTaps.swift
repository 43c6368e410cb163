import MVCC
import Synchronization

/// What a tap hears: the changes of one applied batch that fall in its keys (in revision order),
/// or that the store was replaced by a snapshot (anything may have changed: read again).
enum KeyTapEvent: Sendable {
    case changes([MVCCChange])
    case storeReplaced
}

/// Server-internal listeners on key ranges, for the services that wait on keys the way a client
/// would watch them (v3lock waits for the holder's key to go, v3election follows its leader).
///
/// A tap only hears changes published after it was added, never history: a user adds the tap
/// first and then reads the current state, so a change committed after the read is always heard
/// (publish runs after the batch is committed, and both run on the raft thread in order).
///
/// Threading: `publish` and `restore` are called by the `WatchHub` on the raft thread; handlers
/// run there and must only hand the event on (resume a continuation, schedule on an event loop).
/// `add`/`remove` may be called from any thread.
final class KeyTaps: Sendable {
    private struct Tap {
        let keys: KeyRange
        let handler: @Sendable (KeyTapEvent) -> Void
    }

    private struct State {
        var taps: [UInt64: Tap] = [:]
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())

    /// Registers `handler` for changes to `keys`; the ID removes it.
    func add(_ keys: KeyRange, _ handler: @escaping @Sendable (KeyTapEvent) -> Void) -> UInt64 {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.taps[id] = Tap(keys: keys, handler: handler)
            return id
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.taps.removeValue(forKey: id) }
    }

    var count: Int { state.withLock { $0.taps.count } }

    /// One applied batch. Handlers run outside the lock (a handler may remove its tap).
    func publish(_ changes: [MVCCChange]) {
        guard !changes.isEmpty else { return }
        let taps = state.withLock { Array($0.taps.values) }
        for tap in taps {
            let mine = changes.filter { change in change.kv.key.withUnsafeBytes { tap.keys.contains($0) } }
            if !mine.isEmpty { tap.handler(.changes(mine)) }
        }
    }

    func storeReplaced() {
        let taps = state.withLock { Array($0.taps.values) }
        for tap in taps { tap.handler(.storeReplaced) }
    }
}
