import EtcdProto
import Storage

/// What MVCC needs to know to range (etcd's `mvcc.RangeOptions`).
public struct RangeOptions: Sendable {
    /// 0 for no limit.
    public var limit: Int = 0
    /// 0 for the current revision.
    public var revision: Int64 = 0
    /// Count only; return no key-values.
    public var countOnly = false

    public init(limit: Int = 0, revision: Int64 = 0, countOnly: Bool = false) {
        self.limit = limit
        self.revision = revision
        self.countOnly = countOnly
    }
}

/// etcd's `mvcc.RangeResult`: `revision` is the store's current revision (what the response
/// header carries), not the revision read at.
public struct RangeResult: Sendable {
    public var kvs: [KeyValue]
    public var count: Int
    public var revision: Int64
}

/// Range reads over one LMDB transaction (read-only, or the apply thread's write txn, which then
/// sees its own uncommitted writes). Borrowed for the duration of the transaction only.
///
/// Every read walks the `hist` table: for each key in the range, the newest history entry at or
/// below the revision read names the version (or a tombstone); the version's bytes come from the
/// `rev` table. At the current revision the newest entry is the one the cursor lands on, so a
/// current read costs one `hist` step and one `rev` lookup per key.
struct RangeQuery {
    let txn: LMDBTransaction
    let tables: MVCCTables

    /// etcd's `rangeKeys`: future, then compacted, as errors; then the keys live at `revision`.
    func range(_ keys: KeyRange, options: RangeOptions, currentRevision: Int64, compactedRevision: Int64) throws -> RangeResult {
        var rev = options.revision
        if rev > currentRevision { throw MVCCError.futureRevision }
        if rev <= 0 { rev = currentRevision }
        if rev < compactedRevision { throw MVCCError.compacted }
        var kvs: [KeyValue] = []
        var count = 0
        try visit(keys, at: rev, latest: rev == currentRevision) { revision in
            count += 1
            if options.countOnly || (options.limit > 0 && kvs.count >= options.limit) { return }
            kvs.append(try fetch(revision))
        }
        return RangeResult(kvs: kvs, count: count, revision: currentRevision)
    }

    /// The version of `key` live at the newest revision, if any.
    func latest(_ key: [UInt8]) throws -> KeyValue? {
        guard let (rev, tombstone) = try newestEntry(key), !tombstone else { return nil }
        return try fetch(rev)
    }

    /// The newest history entry of `key`, if it has one (a digested key whose stored form
    /// belongs to another key has none).
    func newestEntry(_ key: [UInt8]) throws -> (Revision, tombstone: Bool)? {
        // No key is stored empty, and LMDB refuses to look one up.
        guard !key.isEmpty else { return nil }
        let stored = BackendKey.encode(key)
        // In a DUPSORT table, a plain get returns the key's first (newest) history entry.
        guard let entry = try txn.withValue(tables.history, stored, { raw in RevisionKey.decodeHistoryEntry(raw) }) else { return nil }
        if BackendKey.isDigested(stored), try fullKey(newest: entry) != key { return nil }
        return entry
    }

    /// The user key whose history has `stored` as its key in the `hist` table.
    func fullKey(ofStored stored: [UInt8]) throws -> [UInt8]? {
        guard BackendKey.isDigested(stored) else { return stored }
        guard let entry = try txn.withValue(tables.history, stored, { raw in RevisionKey.decodeHistoryEntry(raw) }) else { return nil }
        return try fullKey(newest: entry)
    }

    /// The key recorded with a history entry's revision (a tombstone's record holds it too).
    private func fullKey(newest entry: (Revision, tombstone: Bool)) throws -> [UInt8] {
        guard let key = try txn.withValue(tables.revisions, RevisionKey.encode(entry.0, tombstone: entry.tombstone), { raw in try KeyValue(decoding: raw).key }) else {
            throw MVCCError.backend("revision \(entry.0) is indexed but missing from the revision table")
        }
        return key
    }

    /// Calls `body` with the revision of each key in `keys` live at `revision`, in key order.
    private func visit(_ keys: KeyRange, at revision: Int64, latest: Bool, _ body: (Revision) throws -> Void) throws {
        let seekEntry = RevisionKey.historySeek(atOrBelow: Revision(main: revision, sub: Int64.max))
        if case .single(let key) = keys {
            guard !key.isEmpty else { return }
            let stored = BackendKey.encode(key)
            try txn.withCursor(tables.history) { cursor in
                guard try cursor.seek(exact: stored) else { return }
                if BackendKey.isDigested(stored), try fullKey(ofStored: stored) != key { return }
                if let rev = try Self.live(&cursor, key: stored, latest: latest, seekEntry: seekEntry) { try body(rev) }
            }
            return
        }
        let start = keys.start
        try txn.withCursor(tables.history) { cursor in
            var found = try Self.seek(&cursor, atOrAfter: start)
            while found {
                if BackendKey.isDigested(cursor.key) {
                    // Digested keys sharing their first bytes sort by digest: read the group
                    // whole and visit it in full-key order. It sorts, as a whole, where it stands:
                    // after every key before it and before every key after it.
                    let prefix = [UInt8](cursor.key.prefix(BackendKey.inlineBytesMax))
                    // Every key of the group is longer than the prefix, so past an end ≤ prefix.
                    if case .interval(_, let end?) = keys, !KeyRange.less(prefix, end) { break }
                    var group: [[UInt8]] = []
                    repeat {
                        group.append(cursor.keyBytes)
                        found = try cursor.nextNoDup()
                    } while found && BackendKey.isDigested(cursor.key) && cursor.key.starts(with: prefix)
                    if try !visitGroup(group, keys, latest: latest, seekEntry: seekEntry, body) { break }
                    continue
                }
                if keys.isPastEnd(cursor.key) { break }
                if start.withUnsafeBytes({ KeyRange.compare(cursor.key, $0) >= 0 }),
                   let rev = try Self.live(&cursor, key: latest ? [] : cursor.keyBytes, latest: latest, seekEntry: seekEntry) {
                    try body(rev)
                }
                found = try cursor.nextNoDup()
            }
        }
    }

    /// Visits the keys of one group of digested stored keys that are in `keys`, in full-key
    /// order; false when one was past the range's end (so is everything after the group).
    private func visitGroup(_ group: [[UInt8]], _ keys: KeyRange, latest: Bool, seekEntry: [UInt8],
                            _ body: (Revision) throws -> Void) throws -> Bool {
        var members: [(full: [UInt8], stored: [UInt8])] = []
        for stored in group {
            if let full = try fullKey(ofStored: stored) { members.append((full, stored)) }
        }
        members.sort { KeyRange.less($0.full, $1.full) }
        return try txn.withCursor(tables.history) { cursor in
            for (full, stored) in members {
                let inRange = full.withUnsafeBytes { keys.contains($0) }
                if !inRange {
                    if full.withUnsafeBytes({ keys.isPastEnd($0) }) { return false }
                    continue
                }
                guard try cursor.seek(exact: stored) else { continue }
                if let rev = try Self.live(&cursor, key: stored, latest: latest, seekEntry: seekEntry) { try body(rev) }
            }
            return true
        }
    }

    /// The revision live at the read revision of the key the cursor is on (its first entry when
    /// reading the latest; `key` is the stored key, needed only when not), nil for a tombstone
    /// or when the key did not exist yet. Leaves the cursor on that key.
    private static func live(_ cursor: inout LMDBCursor, key: [UInt8], latest: Bool, seekEntry: [UInt8]) throws -> Revision? {
        var positioned = true
        if !latest {
            positioned = try cursor.seekDup(key: key, atOrAfter: seekEntry)
            if !positioned {
                // A failed GET_BOTH_RANGE leaves the cursor unpositioned: re-find the key.
                _ = try cursor.seek(exact: key)
            }
        }
        guard positioned else { return nil }
        let (rev, tombstone) = RevisionKey.decodeHistoryEntry(cursor.value)
        return tombstone ? nil : rev
    }
    /// The key-value stored at `revision` in the revision table.
    private func fetch(_ revision: Revision) throws -> KeyValue {
        guard let kv = try txn.withValue(tables.revisions, RevisionKey.encode(revision), { raw in try KeyValue(decoding: raw) }) else {
            // The history names a revision the revision table does not have: corruption.
            throw MVCCError.backend("revision \(revision) is indexed but missing from the revision table")
        }
        return kv
    }

    /// Positions at the first stored key at or after where `start` sorts. An empty start is the
    /// first key; a start too long to be stored as it is is sought by its first
    /// `BackendKey.inlineBytesMax` bytes (the scan then skips what sorts before `start`).
    static func seek(_ cursor: inout LMDBCursor, atOrAfter start: [UInt8]) throws -> Bool {
        if start.isEmpty { return try cursor.first() }
        return try cursor.seek(atOrAfter: start.count <= BackendKey.inlineBytesMax ? start : Array(start.prefix(BackendKey.inlineBytesMax)))
    }
}
