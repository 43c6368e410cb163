import MVCC
import Synchronization

/// The number of live keys (etcd's `etcd_debugging_mvcc_keys_total`), without a scan at start-up
/// or per scrape: counted once by a read the first time it is asked for, then kept up to date
/// from the applied changes (+1 for a put that creates a key, -1 for a delete).
///
/// Changes applied while the first count runs are kept with their revision and only those after
/// the count's revision are added to it. Threading: `observe` and `reset` run on the raft thread
/// after a batch is committed; `value` on any thread (a scrape).
final class LiveKeyCount: Sendable {
    private enum State {
        case unknown
        /// A count is running; changes since are kept as (revision, delta).
        case counting([(Int64, Int)])
        case known(Int)
    }

    private let state = Mutex(State.unknown)

    func observe(_ changes: [MVCCChange]) {
        state.withLock { s in
            switch s {
            case .unknown: return
            case .counting(var pending):
                for c in changes where Self.delta(c) != 0 { pending.append((c.kv.modRevision, Self.delta(c))) }
                s = .counting(pending)
            case .known(let n):
                var n = n
                for c in changes { n += Self.delta(c) }
                s = .known(n)
            }
        }
    }

    /// The store was replaced by a snapshot: count again when next asked.
    func reset() {
        state.withLock { $0 = .unknown }
    }

    /// The count, after a first full count by `count` (live keys and the revision it read at).
    /// Nil when another caller's first count is still running, or `count` failed.
    func value(count: () -> (keys: Int, revision: Int64)?) -> Int? {
        let start: Bool = state.withLock { s in
            switch s {
            case .unknown:
                s = .counting([])
                return true
            case .counting, .known:
                return false
            }
        }
        if start {
            let counted = count()
            state.withLock { s in
                guard case .counting(let pending) = s else { return }
                guard let counted else {
                    s = .unknown
                    return
                }
                s = .known(counted.keys + pending.reduce(0) { $0 + ($1.0 > counted.revision ? $1.1 : 0) })
            }
        }
        return state.withLock { s in
            if case .known(let n) = s { return n }
            return nil
        }
    }

    private static func delta(_ c: MVCCChange) -> Int {
        if c.isDelete { return -1 }
        return MVCCChange.isCreate(c.kv, isDelete: false) ? 1 : 0
    }
}
