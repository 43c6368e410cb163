import EtcdProto
import MVCC

/// What one watcher asked for (a `WatchCreateRequest`, normalised as etcd normalises it).
struct WatchSpec: Sendable {
    var keys: KeyRange
    /// The first revision whose events the watcher wants.
    var startRevision: Int64
    var noPut: Bool
    var noDelete: Bool
    var prevKV: Bool
    var progressNotify: Bool
    var fragment: Bool

    func wants(_ change: MVCCChange) -> Bool {
        if change.isDelete ? noDelete : noPut { return false }
        return change.kv.key.withUnsafeBytes { keys.contains($0) }
    }
}

/// Identifies a watcher across the server: its stream (session) and its watch ID there.
struct WatcherKey: Hashable, Sendable {
    var session: UInt64
    var watchID: Int64
}
