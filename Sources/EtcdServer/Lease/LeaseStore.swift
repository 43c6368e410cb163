import EtcdProto
import MVCC
import Storage

/// Where leases live in the backend. Written only by the apply transaction, so a lease and the
/// keys it carries are exactly as durable as the data, and a restart finds them as the last
/// applied entry left them.
///
/// - **Records**: `meta["lease/" + 8-byte big-endian ID]` → `leasepb.Lease` (etcd's `lease`
///   bucket, same key and value). Start-up reads these (one short cursor walk over the meta table;
///   there are as many as there are leases, not keys).
/// - **Attachments**: the `leasekeys` table (DUPSORT): 8-byte big-endian lease ID → each key
///   whose live version carries that lease, sorted bytewise (the order etcd deletes them in).
///
/// Why attachments are persisted: etcd rebuilds its key→lease map on every start by reading every
/// key; swetcd starts without scanning keys (a million keys must restart in well under a second),
/// and a revoke or `timetolive --keys` needs a lease's keys without scanning either. The table is
/// kept in step with the keys' `lease` fields by every put and delete in the same transaction
/// (`StoredLeaseIndex`). It is a table of its own rather than `meta` entries because a stored key
/// (`BackendKey`) may be 511 bytes, LMDB's limit for a whole key: prefix + ID + key would not
/// fit, while as a DUPSORT value (also ≤ 511 bytes) it fits exactly.
struct LeaseStore: Sendable {
    static let recordPrefix: [UInt8] = Array("lease/".utf8)
    static let attachmentsTableName = "leasekeys"

    let meta: LMDBDatabase
    let attachments: LMDBDatabase
    let tables: MVCCTables

    /// Opens (creating on first start) the attachments table. Start-up only.
    init(store: MVCCStore) throws {
        tables = store.tables
        meta = store.tables.meta
        attachments = try store.environment.database(named: Self.attachmentsTableName, dupSort: true)
    }

    static func idBytes(_ id: Int64) -> [UInt8] {
        let v = UInt64(bitPattern: id)
        return (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) }
    }

    static func recordKey(_ id: Int64) -> [UInt8] { recordPrefix + idBytes(id) }

    // MARK: records

    func record(_ id: Int64, in txn: LMDBTransaction) throws -> Lease? {
        guard let bytes = try txn.get(meta, Self.recordKey(id)) else { return nil }
        return try Lease(serializedBytes: bytes)
    }

    func contains(_ id: Int64, in txn: LMDBTransaction) throws -> Bool {
        try txn.contains(meta, Self.recordKey(id))
    }

    func putRecord(_ lease: Lease, in txn: LMDBTransaction) throws {
        _ = try txn.put(meta, Self.recordKey(lease.id), lease.serializedBytes())
    }

    func deleteRecord(_ id: Int64, in txn: LMDBTransaction) throws {
        try txn.delete(meta, Self.recordKey(id))
    }

    /// Every lease record, in key order.
    func records(in txn: LMDBTransaction) throws -> [Lease] {
        try txn.withCursor(meta) { cursor in
            var out: [Lease] = []
            var more = try cursor.seek(atOrAfter: Self.recordPrefix)
            while more, cursor.key.starts(with: Self.recordPrefix) {
                out.append(try Lease(serializedBytes: cursor.value))
                more = try cursor.next()
            }
            return out
        }
    }

    // MARK: attachments

    func attach(_ key: [UInt8], to id: Int64, in txn: LMDBTransaction) throws {
        _ = try txn.put(attachments, Self.idBytes(id), BackendKey.encode(key))
    }

    func detach(_ key: [UInt8], from id: Int64, in txn: LMDBTransaction) throws {
        try txn.delete(attachments, Self.idBytes(id), value: BackendKey.encode(key))
    }

    /// The keys attached to `id`, sorted bytewise (the order etcd revokes them in). Kept in
    /// their stored form (`BackendKey`: a key longer than a DUPSORT value may be is digested),
    /// so a long key is looked up in the history for its full bytes.
    func keys(of id: Int64, in txn: LMDBTransaction) throws -> [[UInt8]] {
        let stored: [[UInt8]] = try txn.withCursor(attachments) { cursor in
            var out: [[UInt8]] = []
            var more = try cursor.seek(exact: Self.idBytes(id))
            while more {
                out.append(cursor.valueBytes)
                more = try cursor.nextDup()
            }
            return out
        }
        guard stored.contains(where: BackendKey.isDigested) else { return stored }
        var keys: [[UInt8]] = []
        for s in stored {
            if let key = try tables.fullKey(ofStored: s, in: txn) { keys.append(key) }
        }
        return keys.sorted { KeyRangeCompare.less($0, $1) }
    }

    func detachAll(from id: Int64, in txn: LMDBTransaction) throws {
        try txn.delete(attachments, Self.idBytes(id))
    }
}
