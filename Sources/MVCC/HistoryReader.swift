import EtcdProto
import Storage

/// The store's changes in revision order, read from the `rev` table: what a watcher that starts
/// in the past (or fell behind) is caught up with.
public struct HistoryBatch: Sendable {
    /// Changes with main revision in [from, nextRevision), in (main, sub) order.
    public var changes: [MVCCChange]
    /// Where the next read continues.
    public var nextRevision: Int64

    public init(changes: [MVCCChange], nextRevision: Int64) {
        self.changes = changes
        self.nextRevision = nextRevision
    }
}

extension MVCCReadView {
    /// Changes from revision `from` up to `to` (inclusive), at most about `limit` of them: the
    /// batch always ends at a revision boundary, so all changes of one revision come together
    /// (it may exceed `limit` to finish a revision). `prevKV` is filled when `withPrevKV`.
    ///
    /// Fails with `.compacted` if `from` is below the compacted revision (those changes are gone).
    public func history(from: Int64, to: Int64, limit: Int, withPrevKV: Bool) throws -> HistoryBatch {
        if from < meta.compactedRevision { throw MVCCError.compacted }
        var changes: [MVCCChange] = []
        var stoppedByLimit = false
        var lastMain: Int64 = -1
        let start = RevisionKey.encode(Revision(main: from, sub: 0))
        try txn.withCursor(tables.revisions) { cursor in
            var found = try cursor.seek(atOrAfter: start)
            while found {
                guard let (rev, tombstone) = RevisionKey.decode(cursor.key) else {
                    throw MVCCError.backend("malformed revision key in the revision table")
                }
                if rev.main > to { break }
                if changes.count >= limit && rev.main != lastMain {
                    stoppedByLimit = true
                    break
                }
                var kv = try KeyValue(decoding: cursor.value)
                if tombstone { kv.modRevision = rev.main }
                changes.append(MVCCChange(kv: kv, isDelete: tombstone))
                lastMain = rev.main
                found = try cursor.next()
            }
        }
        let next = stoppedByLimit ? lastMain + 1 : max(from, to + 1)
        if withPrevKV {
            for i in changes.indices where !MVCCChange.isCreate(changes[i].kv, isDelete: changes[i].isDelete) {
                changes[i].prevKV = try previousVersion(of: changes[i].kv.key, before: Revision(main: changes[i].kv.modRevision, sub: 0))
            }
        }
        return HistoryBatch(changes: changes, nextRevision: next)
    }

    /// The version of `key` live just before revision `before.main` (etcd ranges at
    /// modRevision - 1 for a watcher's prev_kv); nil if none or if that point is compacted.
    public func previousVersion(of key: [UInt8], before: Revision) throws -> KeyValue? {
        let at = before.main - 1
        if at < 1 || at < meta.compactedRevision { return nil }
        return try range(.single(key), options: RangeOptions(revision: at)).kvs.first
    }
}
