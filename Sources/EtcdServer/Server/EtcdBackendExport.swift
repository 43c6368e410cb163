import EtcdProto
import Foundation
import MVCC
import Storage

/// The backend as etcd 3.5 lays it out in bbolt (the file `etcdctl snapshot save` writes and
/// `etcdutl snapshot restore` reads), written from one LMDB read transaction, so the copy is of
/// one applied index:
///
/// | bucket | key → value |
/// |---|---|
/// | `key` | revision key (17 bytes, 18 for a tombstone) → `mvccpb.KeyValue` (our `rev` table as it is) |
/// | `meta` | `consistent_index`, `term` (8 bytes big-endian), `scheduledCompactRev`/`finishedCompactRev` (a revision key) once compacted, `confState` (Go's JSON of `raftpb.ConfState`) |
/// | `lease` | 8-byte big-endian ID → `leasepb.Lease` |
/// | `alarm` | `etcdserverpb.AlarmMember` → empty |
/// | `members` | hex ID → the member's JSON; `members_removed`: hex ID → `removed` |
/// | `cluster` | `clusterVersion` → "3.5.0" (and `downgrade` while one is enabled) |
/// | `auth` | `authRevision` → 1 (swetcd has no users or roles yet); `authUsers`, `authRoles` empty |
///
/// The `key` bucket streams from a cursor into the writer; only the small tables are gathered.
enum EtcdBackendExport {
    static func write(store: MVCCStore, to path: String) throws {
        let writer = try BboltWriter(path: path)
        try store.environment.read { txn in
            let meta = try MVCCMeta.load(txn, store.tables)
            let membership = try MembershipStore.decode(txn.get(store.tables.meta, MembershipStore.metaKey))
            let alarms = try txn.get(store.tables.meta, AlarmStore.metaKey).map { try AlarmResponse(serializedBytes: $0).alarms } ?? []

            try writer.addBucket(Array("alarm".utf8), alarms.map { (key: $0.serializedBytes(), value: [UInt8]()) }.sorted { $0.key.lexicographicallyPrecedes($1.key) })
            try writer.addBucket(Array("auth".utf8), [(key: Array("authRevision".utf8), value: bigEndian(UInt64(1)))])
            try writer.addBucket(Array("authRoles".utf8), [])
            try writer.addBucket(Array("authUsers".utf8), [])
            var cluster: [(key: [UInt8], value: [UInt8])] = []
            if let version = membership.clusterVersion { cluster.append((Array("clusterVersion".utf8), Array(version.utf8))) }
            if let downgrade = membership.downgrade {
                cluster.append((Array("downgrade".utf8), Array("{\"target-version\":\(JSONText.string(downgrade.targetVersion)),\"enabled\":true}".utf8)))
            }
            try writer.addBucket(Array("cluster".utf8), cluster.sorted { $0.key.lexicographicallyPrecedes($1.key) })

            try writer.beginBucket(Array("key".utf8))
            try txn.withCursor(store.tables.revisions) { cursor in
                var more = try cursor.first()
                while more {
                    try writer.append(key: cursor.keyBytes, value: cursor.valueBytes)
                    more = try cursor.next()
                }
            }
            try writer.endBucket()

            var leases: [(key: [UInt8], value: [UInt8])] = []
            try txn.withCursor(store.tables.meta) { cursor in
                var more = try cursor.seek(atOrAfter: LeaseStore.recordPrefix)
                while more, cursor.key.starts(with: LeaseStore.recordPrefix) {
                    leases.append((Array(cursor.keyBytes.dropFirst(LeaseStore.recordPrefix.count)), cursor.valueBytes))
                    more = try cursor.next()
                }
            }
            try writer.addBucket(Array("lease".utf8), leases)

            let members = membership.members.values.map { (key: Array(String($0.id, radix: 16).utf8), value: Array($0.json.utf8)) }
            try writer.addBucket(Array("members".utf8), members.sorted { $0.key.lexicographicallyPrecedes($1.key) })
            let removed = membership.removed.map { (key: Array(String($0, radix: 16).utf8), value: Array("removed".utf8)) }
            try writer.addBucket(Array("members_removed".utf8), removed.sorted { $0.key.lexicographicallyPrecedes($1.key) })

            var metaPairs: [(key: [UInt8], value: [UInt8])] = [
                (Array("confState".utf8), Array(confStateJSON(membership.confState).utf8)),
                (Array("consistent_index".utf8), bigEndian(meta.appliedIndex)),
                (Array("term".utf8), bigEndian(meta.appliedTerm)),
            ]
            if meta.compactedRevision > 0 {
                let rev = RevisionKey.encode(Revision(main: meta.compactedRevision))
                metaPairs.append((Array("finishedCompactRev".utf8), rev))
                metaPairs.append((Array("scheduledCompactRev".utf8), rev))
            }
            try writer.addBucket(Array("meta".utf8), metaPairs.sorted { $0.key.lexicographicallyPrecedes($1.key) })
        }
        try writer.finish()
    }

    static func bigEndian(_ v: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) }
    }

    /// Go's `json.Marshal` of etcd's `raftpb.ConfState` (gogoproto's field tags).
    static func confStateJSON(_ c: ConfState) -> String {
        func list(_ ids: [UInt64]) -> String { ids.isEmpty ? "null" : "[" + ids.map(String.init).joined(separator: ",") + "]" }
        return "{\"voters\":\(list(c.voters)),\"learners\":\(list(c.learners)),\"voters_outgoing\":\(list(c.votersOutgoing)),\"learners_next\":\(list(c.learnersNext)),\"auto_leave\":\(c.autoLeave)}"
    }
}
