import Storage
import Synchronization

/// etcd's `HashKV`: a CRC-32C over the key-value history up to a revision, computed exactly as
/// etcd 3.5.16 does over its `key` bucket (`mvcc.unsafeHashByRev`), so that a swetcd member and
/// an etcd member with the same history report the same number — which is what
/// `etcdctl endpoint hashkv` and etcd's corruption checks compare.
///
/// What goes in, in backend order: the bucket name `key`, then for every stored revision up to
/// `revision` its backend key (etcd's 17/18-byte revision key, which our `rev` table uses too) and
/// its encoded `mvccpb.KeyValue`. Revisions at or below the compacted revision count only if they
/// are kept at `revision` by etcd's key index (`kvindex.Keep(revision)`, see `keptRevision`), unless no
/// key has a live version there; a tombstone at exactly the compacted revision never counts
/// (etcd ≤ 3.5.15 deleted it at compaction, later versions keep it; both hash the same).
public struct KVHash: Equatable, Sendable {
    public var hash: UInt32
    /// The revision the hash covers.
    public var revision: Int64
    /// The compacted revision the hash was taken against (etcd's `CompactRevision`).
    public var compactRevision: Int64
    /// The store's current revision when the hash was answered.
    public var currentRevision: Int64
}

extension MVCCReadView {
    /// The hash of the history up to `revision` (0: the current revision). Reads every stored
    /// revision once; runs in this view's read transaction, so writes go on meanwhile.
    ///
    /// - Throws: `MVCCError.compacted` below the compacted revision, `.futureRevision` above the
    ///   current one (etcd's checks, in etcd's order).
    public func hashKV(revision requested: Int64) throws -> KVHash {
        let compacted = meta.compactedRevision
        let current = meta.currentRevision
        if requested > 0 && requested < compacted { throw MVCCError.compacted }
        if requested > 0 && requested > current { throw MVCCError.futureRevision }
        let revision = requested == 0 ? current : requested
        let hash = try KVHasher.hash(txn: txn, tables: tables, revision: revision, compactRevision: compacted)
        return KVHash(hash: hash, revision: revision, compactRevision: compacted, currentRevision: current)
    }
}

extension MVCCWriteTxn {
    /// etcd's compaction hash: the history up to `revision` as it stands before compacting to it,
    /// against the previous compacted revision (what etcd stores for its compaction hash check).
    func compactionHash(revision: Int64) throws -> KVHash {
        let previous = meta.compactedRevision
        let hash = try KVHasher.hash(txn: txn, tables: tables, revision: revision, compactRevision: previous, forCompaction: true)
        return KVHash(hash: hash, revision: revision, compactRevision: previous, currentRevision: meta.currentRevision)
    }
}

enum KVHasher {
    /// `forCompaction`: the hash etcd takes while compacting to `revision`, whose keep set is
    /// `kvindex.Compact(revision)`'s rather than `Keep(revision)`'s (see `keptRevision`).
    static func hash(txn: LMDBTransaction, tables: MVCCTables, revision: Int64, compactRevision compacted: Int64,
                     forCompaction: Bool = false) throws -> UInt32 {
        // etcd's keep set at `revision`, one revision per key at most. Only those at or below the
        // compacted revision are needed for the filter, and whether the set is empty.
        var keepAtOrBelowCompacted = Set<Revision>()
        var anyKept = false
        var entries: [(rev: Revision, tombstone: Bool)] = []
        try txn.withCursor(tables.history) { cursor in
            var more = try cursor.first()
            while more {
                entries.removeAll(keepingCapacity: true)
                repeat {
                    entries.append(RevisionKey.decodeHistoryEntry(cursor.value))
                } while try cursor.nextDup()
                if let kept = keptRevision(entries, at: revision, forCompaction: forCompaction) {
                    anyKept = true
                    if kept.main <= compacted { keepAtOrBelowCompacted.insert(kept) }
                }
                more = try cursor.nextNoDup()
            }
        }

        var crc: UInt32 = 0
        crc = Array("key".utf8).withUnsafeBytes { CRC32C.update(crc, $0) }
        try txn.withCursor(tables.revisions) { cursor in
            var more = try cursor.first()
            while more {
                guard let (rev, tombstone) = RevisionKey.decode(cursor.key) else {
                    throw MVCCError.backend("malformed revision key in the rev table")
                }
                if rev.main > revision { break }
                let counted = rev.main > compacted || !anyKept || keepAtOrBelowCompacted.contains(rev)
                if counted && !(tombstone && rev.main == compacted) {
                    crc = CRC32C.update(crc, cursor.key)
                    crc = CRC32C.update(crc, cursor.value)
                }
                more = try cursor.next()
            }
        }
        return crc
    }

    /// The revision of one key that etcd's key index keeps at `atRev` (`keyIndex.keep`, or
    /// `keyIndex.compact` when `forCompaction`), from the key's history entries, newest first.
    ///
    /// etcd 3.5.16 picks the first generation (oldest first) whose tombstone is at or above
    /// `atRev` — the last, open generation if there is none — and in it the newest revision at or
    /// below `atRev`. If that is the generation's tombstone, `keep` drops it and `compact` keeps
    /// it. So a key deleted and put again in one txn at `atRev` keeps nothing: its chosen
    /// generation is the one the txn closed.
    static func keptRevision(_ newestFirst: [(rev: Revision, tombstone: Bool)], at atRev: Int64,
                             forCompaction: Bool) -> Revision? {
        // Generation boundaries are tombstones. The oldest tombstone at or above atRev closes the
        // chosen generation; without one, the chosen generation is the open one at the front.
        let closing = newestFirst.lastIndex { $0.tombstone && $0.rev.main >= atRev }
        var j = closing ?? 0
        while j < newestFirst.count {
            let e = newestFirst[j]
            if e.tombstone && j != closing { return nil }  // another generation's end: none left here
            if e.rev.main <= atRev { return e.tombstone ? (forCompaction ? e.rev : nil) : e.rev }
            j += 1
        }
        return nil
    }
}

/// The hashes taken at the last compactions (etcd's `hashStorage`), newest revisions kept. In
/// memory only, as in etcd: `HashKV` for a revision that one of them covers answers it instead of
/// hashing again (so it keeps the compacted revision it was taken against). Any thread.
public final class CompactionHashes: Sendable {
    /// etcd's `hashStorageMaxSize`.
    public static let countMax = 10
    private let hashes = Mutex<[KVHash]>([])

    public init() {}

    func store(_ new: [KVHash]) {
        guard !new.isEmpty else { return }
        hashes.withLock { list in
            list.append(contentsOf: new)
            list.sort { $0.revision < $1.revision }
            if list.count > Self.countMax { list.removeFirst(list.count - Self.countMax) }
        }
    }

    /// The stored hash taken for exactly `revision` (as requested: 0 matches a hash taken by a
    /// compaction to revision 0, as in etcd), if any.
    public func hash(forRequestedRevision revision: Int64) -> KVHash? {
        hashes.withLock { list in list.first { $0.revision == revision } }
    }

    public var all: [KVHash] { hashes.withLock { $0 } }

    func clear() { hashes.withLock { $0 = [] } }
}
