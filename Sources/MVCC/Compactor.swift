import EtcdProto
import Storage

/// What a compaction removed.
public struct MVCCCompactionStats: Sendable {
    public var keysVisited = 0
    public var revisionsRemoved = 0
}

/// Physical compaction over the `hist` table, in key order, in batches of `keysPerBatch` keys
/// (collect first, then delete, so no cursor is used across its own deletions).
public struct Compactor {
    let txn: LMDBTransaction
    let tables: MVCCTables
    /// Keys examined before the collected deletions are applied (etcd's
    /// `--experimental-compaction-batch-limit`; here every batch is in the same transaction).
    let keysPerBatch: Int
    public static let defaultKeysPerBatch = 1000

    func compact(to revision: Int64) throws -> MVCCCompactionStats {
        var stats = MVCCCompactionStats()
        let seekEntry = RevisionKey.historySeek(atOrBelow: Revision(main: revision, sub: Int64.max))
        var resumeAfter: [UInt8]? = nil
        while true {
            // (key, history entries to delete)
            var doomed: [([UInt8], [[UInt8]])] = []
            var lastKey: [UInt8]? = nil
            var visited = 0
            try txn.withCursor(tables.history) { cursor in
                var found: Bool
                if let resumeAfter {
                    found = try cursor.seek(atOrAfter: resumeAfter)
                    if found && cursor.keyBytes == resumeAfter { found = try cursor.nextNoDup() }
                } else {
                    found = try cursor.first()
                }
                while found && visited < keysPerBatch {
                    visited += 1
                    let key = cursor.keyBytes
                    lastKey = key
                    if try cursor.seekDup(key: key, atOrAfter: seekEntry) {
                        var entries: [[UInt8]] = []
                        // The key's latest revision at `revision` stays unless it is a tombstone
                        // older than `revision`; a tombstone at exactly `revision` stays too, so
                        // a watch from `revision` still sees that delete (etcd 3.5.16, issue 18089).
                        let (latest, tombstone) = RevisionKey.decodeHistoryEntry(cursor.value)
                        if tombstone && latest.main != revision { entries.append(cursor.valueBytes) }
                        while try cursor.nextDup() {
                            entries.append(cursor.valueBytes)
                        }
                        if !entries.isEmpty { doomed.append((key, entries)) }
                        // nextDup returning false leaves the cursor on the key's last duplicate.
                        found = try cursor.nextNoDup()
                    } else {
                        _ = try cursor.seek(exact: key)
                        found = try cursor.nextNoDup()
                    }
                }
            }
            stats.keysVisited += visited
            for (key, entries) in doomed {
                for entry in entries {
                    let (rev, tombstone) = entry.withUnsafeBytes { RevisionKey.decodeHistoryEntry($0) }
                    _ = try txn.delete(tables.revisions, RevisionKey.encode(rev, tombstone: tombstone))
                    _ = try txn.delete(tables.history, key, value: entry)
                    stats.revisionsRemoved += 1
                }
            }
            guard visited == keysPerBatch, let lastKey else { break }
            resumeAfter = lastKey
        }
        return stats
    }
}
