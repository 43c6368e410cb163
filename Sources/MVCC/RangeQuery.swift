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
struct RangeQuery {
    let txn: LMDBTransaction
    let tables: MVCCTables

    /// etcd's `rangeKeys`: future, then compacted, as errors; then the keys live at `revision`.
    func range(_ keys: KeyRange, options: RangeOptions, currentRevision: Int64, compactedRevision: Int64) throws -> RangeResult {
        var rev = options.revision
        if rev > currentRevision { throw MVCCError.futureRevision }
        if rev <= 0 { rev = currentRevision }
        if rev < compactedRevision { throw MVCCError.compacted }
        if rev == currentRevision {
            return try rangeLatest(keys, options: options, currentRevision: currentRevision)
        }
        return try rangeAt(keys, revision: rev, options: options, currentRevision: currentRevision)
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

    /// The live versions, from the `kv` table.
    private func rangeLatest(_ keys: KeyRange, options: RangeOptions, currentRevision: Int64) throws -> RangeResult {
        var kvs: [KeyValue] = []
        var count = 0
        switch keys {
        case .single(let key):
            // No stored key is longer than LMDB's limit, so a longer one names nothing.
            if key.count <= LMDBEnvironment.maxKeyBytes,
                let kv = try txn.withValue(tables.latest, key, { raw in try KeyValue(decoding: raw) })
            {
                count = 1
                if !options.countOnly { kvs.append(kv) }
            }
        case .interval(let start, _):
            try txn.withCursor(tables.latest) { cursor in
                var found = try Self.seek(&cursor, atOrAfter: start)
                while found {
                    let key = cursor.key
                    if keys.isPastEnd(key) { break }
                    count += 1
                    if !options.countOnly && (options.limit <= 0 || kvs.count < options.limit) {
                        kvs.append(try KeyValue(decoding: cursor.value))
                    }
                    found = try cursor.next()
                }
            }
        }
        return RangeResult(kvs: kvs, count: count, revision: currentRevision)
    }

    /// The versions live at a past revision, from the `hist` and `rev` tables.
    private func rangeAt(_ keys: KeyRange, revision: Int64, options: RangeOptions, currentRevision: Int64) throws -> RangeResult {
        var kvs: [KeyValue] = []
        var count = 0
        let seekEntry = RevisionKey.historySeek(atOrBelow: Revision(main: revision, sub: Int64.max))
        try txn.withCursor(tables.history) { cursor in
            var found: Bool
            switch keys {
            case .single(let key):
                found = key.count <= LMDBEnvironment.maxKeyBytes ? try cursor.seek(exact: key) : false
            case .interval(let start, _):
                found = try Self.seek(&cursor, atOrAfter: start)
            }
            while found {
                if keys.isPastEnd(cursor.key) { break }
                let key = cursor.keyBytes
                let positioned = try cursor.seekDup(key: key, atOrAfter: seekEntry)
                if positioned {
                    let (rev, tombstone) = RevisionKey.decodeHistoryEntry(cursor.value)
                    if !tombstone {
                        count += 1
                        if !options.countOnly && (options.limit <= 0 || kvs.count < options.limit) {
                            let revKey = RevisionKey.encode(rev)
                            guard let kv = try txn.withValue(tables.revisions, revKey, { raw in try KeyValue(decoding: raw) }) else {
                                // The index names a revision the revision table does not have.
                                throw MVCCError.backend("revision \(rev) of a key is indexed but missing")
                            }
                            kvs.append(kv)
                        }
                    }
                }
                if case .single = keys { break }
                // A failed GET_BOTH_RANGE leaves the cursor unpositioned: re-find the key first.
                if !positioned { _ = try cursor.seek(exact: key) }
                found = try cursor.nextNoDup()
            }
        }
        return RangeResult(kvs: kvs, count: count, revision: currentRevision)
    }
}
