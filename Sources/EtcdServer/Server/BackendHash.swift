import MVCC
import Storage

/// `Maintenance.Hash` (etcd's `backend.Hash(DefaultIgnores)`): a CRC-32C (Castagnoli, as etcd's)
/// over every table of the backend in name order: each table's name, then each key and value in
/// key order (every value of a dupsort key). What differs between members holding the same data
/// is left out, as etcd leaves out its `consistent_index` and `term`: the `mvcc` meta record holds
/// the applied index and term, so only its current and compacted revisions are hashed; the
/// membership record is hashed in its canonical (ID-ordered) form.
///
/// The number is swetcd's own: etcd hashes bbolt's buckets, whose layout is not LMDB's, so it
/// differs from etcd's; it is equal on swetcd members with equal data, and stays the same across
/// restarts and defrag (it reads content, not pages).
enum BackendHash {
    static func compute(store: MVCCStore, leaseAttachments: LMDBDatabase) throws -> (hash: UInt32, revision: Int64) {
        let tables: [(String, LMDBDatabase)] = [
            ("hist", store.tables.history), ("leasekeys", leaseAttachments),
            ("meta", store.tables.meta), ("rev", store.tables.revisions),
        ]
        return try store.environment.read { txn in
            var crc: UInt32 = 0
            let meta = try MVCCMeta.load(txn, store.tables)
            for (name, table) in tables.sorted(by: { $0.0 < $1.0 }) {
                crc = update(crc, Array(name.utf8))
                try txn.withCursor(table) { cursor in
                    var more = try cursor.first()
                    while more {
                        if table == store.tables.meta, cursor.keyBytes == MVCCMeta.key {
                            crc = update(crc, cursor.keyBytes)
                            crc = update(crc, revisions(meta))
                        } else if table == store.tables.meta, cursor.keyBytes == MembershipStore.metaKey {
                            // Written in a process-dependent order before stores wrote it sorted.
                            crc = update(crc, cursor.keyBytes)
                            crc = update(crc, try MembershipStore.encode(MembershipStore.decode(cursor.valueBytes)))
                        } else {
                            crc = CRC32C.update(crc, cursor.key)
                            crc = CRC32C.update(crc, cursor.value)
                        }
                        more = try cursor.next()
                    }
                }
            }
            return (crc, meta.currentRevision)
        }
    }

    private static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.update(crc, $0) }
    }

    /// The current and compacted revisions, 8 bytes each, big-endian.
    private static func revisions(_ meta: MVCCMeta) -> [UInt8] {
        [meta.currentRevision, meta.compactedRevision].flatMap { v in
            (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (56 - 8 * $0)) }
        }
    }
}
