import Storage

/// etcd's `HashKV`: a CRC-32C over the key-value history up to a revision, computed exactly as
/// etcd 3.4/3.5.1 does over its `key` bucket (`mvcc.store.HashByRev`), so that a swetcd member and
/// an etcd member with the same history report the same number — which is what
/// `etcdctl endpoint hashkv` and etcd's corruption check compare.
///
/// What goes in, in backend order: the bucket name `key`, then for every stored revision up to
/// `revision` its backend key (etcd's 17/18-byte revision key, which our `rev` table uses too) and
/// its encoded `mvccpb.KeyValue`. Revisions at or below the compacted revision count only if they
/// are the live version of their key at `revision` (etcd's `kvindex.Keep(revision)`), unless no
/// key has a live version there.
public struct KVHash: Equatable, Sendable {
    public var hash: UInt32
    /// The store's current and compacted revisions when the hash was taken.
    public var currentRevision: Int64
    public var compactedRevision: Int64
}

extension MVCCReadView {
    /// The hash of the history up to `revision` (0: the current revision). Reads every stored
    /// revision once; runs in this view's read transaction, so writes go on meanwhile.
    ///
    /// - Throws: `MVCCError.compacted` at or below the compacted revision, `.futureRevision`
    ///   above the current one (etcd's checks, in etcd's order).
    public func hashKV(revision requested: Int64) throws -> KVHash {
        let compacted = meta.compactedRevision
        let current = meta.currentRevision
        if requested > 0 && requested <= compacted { throw MVCCError.compacted }
        if requested > 0 && requested > current { throw MVCCError.futureRevision }
        let revision = requested == 0 ? current : requested

        // etcd's Keep(revision): each key's newest revision at or below `revision`, if it is not
        // a tombstone. Only those at or below the compacted revision are needed for the filter.
        var keepAtOrBelowCompacted = Set<Revision>()
        var anyKept = false
        try txn.withCursor(tables.history) { cursor in
            var more = try cursor.first()
            while more {
                // Entries are newest first: the first at or below `revision` is the one.
                repeat {
                    let (rev, tombstone) = RevisionKey.decodeHistoryEntry(cursor.value)
                    if rev.main <= revision {
                        if !tombstone {
                            anyKept = true
                            if rev.main <= compacted { keepAtOrBelowCompacted.insert(rev) }
                        }
                        break
                    }
                } while try cursor.nextDup()
                more = try cursor.nextNoDup()
            }
        }

        var crc: UInt32 = 0
        crc = Array("key".utf8).withUnsafeBytes { CRC32C.update(crc, $0) }
        try txn.withCursor(tables.revisions) { cursor in
            var more = try cursor.first()
            while more {
                guard let (rev, _) = RevisionKey.decode(cursor.key) else {
                    throw MVCCError.backend("malformed revision key in the rev table")
                }
                if rev.main > revision { break }
                if rev.main > compacted || !anyKept || keepAtOrBelowCompacted.contains(rev) {
                    crc = CRC32C.update(crc, cursor.key)
                    crc = CRC32C.update(crc, cursor.value)
                }
                more = try cursor.next()
            }
        }
        return KVHash(hash: crc, currentRevision: current, compactedRevision: compacted)
    }
}
