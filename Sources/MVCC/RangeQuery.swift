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
        // No stored key is empty or longer than LMDB's limit, and LMDB refuses to look one up.
        guard !key.isEmpty && key.count <= LMDBEnvironment.maxKeyBytes else { return nil }
        // In a DUPSORT table, a plain get returns the key's first (newest) history entry.
        let entry = try txn.withValue(tables.history, key) { raw in RevisionKey.decodeHistoryEntry(raw) }
        guard let (rev, tombstone) = entry, !tombstone else { return nil }
        return try fetch(rev)
    }

    /// Calls `body` with the revision of each key in `keys` live at `revision`, in key order.
    private func visit(_ keys: KeyRange, at revision: Int64, latest: Bool, _ body: (Revision) throws -> Void) throws {
        let seekEntry = RevisionKey.historySeek(atOrBelow: Revision(main: revision, sub: Int64.max))
        try txn.withCursor(tables.history) { cursor in
            var found: Bool
            switch keys {
            case .single(let key):
                // No stored key is empty or longer than LMDB's limit: such a key names nothing.
                found = !key.isEmpty && key.count <= LMDBEnvironment.maxKeyBytes ? try cursor.seek(exact: key) : false
            case .interval(let start, _):
                found = try Self.seek(&cursor, atOrAfter: start)
            }
            while found {
                if keys.isPastEnd(cursor.key) { break }
                // Positioned on a key, the cursor is on its newest entry.
                var positioned = true
                if !latest {
                    let key = cursor.keyBytes
                    positioned = try cursor.seekDup(key: key, atOrAfter: seekEntry)
                    if !positioned {
                        // A failed GET_BOTH_RANGE leaves the cursor unpositioned: re-find the key.
                        _ = try cursor.seek(exact: key)
                    }
                }
                if positioned {
                    let (rev, tombstone) = RevisionKey.decodeHistoryEntry(cursor.value)
                    if !tombstone { try body(rev) }
                }
                if case .single = keys { break }
                found = try cursor.nextNoDup()
            }
        }
    }

    /// The key-value stored at `revision` in the revision table.
    private func fetch(_ revision: Revision) throws -> KeyValue {
        guard let kv = try txn.withValue(tables.revisions, RevisionKey.encode(revision), { raw in try KeyValue(decoding: raw) }) else {
            // The history names a revision the revision table does not have: corruption.
            throw MVCCError.backend("revision \(revision) is indexed but missing from the revision table")
        }
        return kv
    }

    /// Positions at the first key ≥ `start`. An empty start is the first key; a start longer
    /// than LMDB's key limit is sought by its prefix, then stepped past the shorter keys.
    static func seek(_ cursor: inout LMDBCursor, atOrAfter start: [UInt8]) throws -> Bool {
        if start.isEmpty { return try cursor.first() }
        if start.count <= LMDBEnvironment.maxKeyBytes { return try cursor.seek(atOrAfter: start) }
        var found = try cursor.seek(atOrAfter: start.prefix(LMDBEnvironment.maxKeyBytes))
        while found && start.withUnsafeBytes({ KeyRange.compare(cursor.key, $0) < 0 }) {
            found = try cursor.nextNoDup()
        }
        return found
    }
}
