import EtcdProto
import Foundation
import Logging
import MVCC
import Storage

/// Moving an etcd 3.4/3.5 data dir to swetcd in place (issue 9's `migrate`; also what happens
/// when swetcd is started on a data dir `etcdutl snapshot restore` made): etcd's `member/`
/// directory (and a separate `--wal-dir`) is renamed aside, never changed, so the user can go
/// back; the backend is imported from etcd's bbolt file into a new LMDB store; the WAL entries
/// after the backend's consistent index are written to a new swetcd WAL, behind a snapshot at
/// that index, and are applied when the member starts, as etcd would have applied them.
///
/// What is imported: every revision of the `key` bucket (with the compacted revision), leases,
/// alarms, members and removed members, the cluster version, the consistent index and term.
/// A data dir with auth enabled is refused (swetcd has no auth yet); one whose etcd still runs
/// (its backend file is locked) is refused; a WAL that does not reach back to the consistent
/// index, or does not read, is refused with the file and offset.
enum EtcdMigration {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Revisions imported between progress lines.
    static let progressEvery = 100_000

    /// Whether `backendPath` is a bbolt file (etcd's), not LMDB's.
    static func isEtcdBackend(_ backendPath: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: backendPath), let head = try? handle.read(upToCount: 20) else { return false }
        try? handle.close()
        return head.count == 20 && head[16..<20].elementsEqual([0xED, 0xDA, 0x0C, 0xED])
    }

    /// Migrates `dataDir` if it holds etcd's files; returns whether it did.
    static func migrateIfNeeded(dataDir: String, walDir: String?, logger: Logger) throws -> Bool {
        let layout = DataDirectory(path: dataDir)
        guard isEtcdBackend(layout.backendPath) else { return false }
        let etcdWALDir = walDir ?? layout.walDirectory
        guard EtcdWALReader.isEtcdWAL(etcdWALDir) else {
            throw Failure(description: "\(layout.backendPath) is etcd's (bbolt) but \(etcdWALDir) holds no etcd WAL")
        }
        try refuseIfLocked(layout.backendPath)
        let started = ContinuousClock.now
        logger.info("migrating an etcd data dir", metadata: ["data-dir": "\(dataDir)", "wal-dir": "\(etcdWALDir)"])

        let wal = try EtcdWALReader.read(directory: etcdWALDir)
        if wal.tornTail { logger.warning("the etcd WAL ended in a torn record; it is dropped, as etcd drops it") }
        guard wal.memberID != 0 else { throw Failure(description: "\(etcdWALDir): no WAL metadata (member and cluster IDs)") }

        // etcd's files go aside first: nothing below writes into them.
        let aside = try moveAside(layout.memberDirectory)
        var walAside: String?
        if let walDir { walAside = try moveAside(walDir) }
        logger.info("kept etcd's files aside", metadata: ["member-dir": "\(aside)", "wal-dir": "\(walAside ?? aside + "/wal")"])

        try layout.createLayout()
        let reader = try BboltReader(path: aside + "/snap/db")
        let env = try LMDBEnvironment(path: layout.backendPath, mapSizeBytes: EtcdServer.mapSizeMinBytes, maxReaders: 16, maxDatabases: 16)
        defer { env.close() }
        let store = try MVCCStore(environment: env)
        let leaseStore = try LeaseStore(store: store)
        // etcd 3.4 keeps no term beside its consistent index: the WAL's entry there says it.
        let imported = try importBackend(reader, into: store, leaseStore: leaseStore, logger: logger) { index in
            wal.entries.first { $0.index == index }?.term ?? wal.snapshots.last { $0.index == index }?.term ?? wal.hardState.term
        }

        // The log after the consistent index, behind a snapshot at it.
        let index = imported.consistentIndex
        let term = imported.term
        let after = wal.entries.filter { $0.index > index }
        if let first = after.first, first.index != index + 1 {
            throw Failure(description: "the etcd WAL starts at index \(first.index), after the backend's consistent index \(index): entries \(index + 1)...\(first.index - 1) are missing")
        }
        let snapshots = try SnapshotStore(directory: layout.snapDirectory)
        try snapshots.save(Snapshot(data: [], metadata: SnapshotMetadata(confState: imported.membership.confState, index: index, term: term)))
        let ours = try WriteAheadLog.create(
            directory: walDir ?? layout.walDirectory, metadata: WALMetadata(nodeID: wal.memberID, clusterID: wal.clusterID).serializedBytes())
        try ours.saveSnapshotMarker(index: index, term: term)
        var hardState = wal.hardState
        hardState.commit = min(max(hardState.commit, index), after.last?.index ?? index)
        hardState.term = max(hardState.term, term)
        try ours.append(entries: after, hardState: hardState)
        try ours.sync()
        try ours.close()
        logger.info("migrated an etcd data dir", metadata: [
            "revisions": "\(imported.revisions)", "current-revision": "\(imported.currentRevision)",
            "leases": "\(imported.leases)", "members": "\(imported.membership.members.count)",
            "consistent-index": "\(index)", "entries-to-apply": "\(after.count)", "took": "\(ContinuousClock.now - started)",
        ])
        return true
    }

    /// etcd holds an exclusive `flock` on its backend file while it runs.
    private static func refuseIfLocked(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            throw Failure(description: "\(path) is locked: etcd is still running on this data dir; stop it first")
        }
        flock(fd, LOCK_UN)
    }

    /// Renames `path` to `path.etcd-backup` (or `-2`, `-3`, … if taken).
    private static func moveAside(_ path: String) throws -> String {
        var target = path + ".etcd-backup"
        var n = 2
        while FileManager.default.fileExists(atPath: target) {
            target = path + ".etcd-backup-\(n)"
            n += 1
        }
        guard rename(path, target) == 0 else {
            throw Failure(description: "cannot move \(path) aside to \(target): \(String(cString: strerror(errno)))")
        }
        return target
    }

    struct Imported {
        var revisions = 0
        var currentRevision: Int64 = 1
        var leases = 0
        var consistentIndex: UInt64 = 0
        var term: UInt64 = 0
        var membership = Membership()
    }

    /// etcd's buckets into the store, in one write transaction.
    static func importBackend(_ reader: BboltReader, into store: MVCCStore, leaseStore: LeaseStore, logger: Logger,
                              termAt: (UInt64) -> UInt64) throws -> Imported {
        var out = Imported()
        var auth: [String: [UInt8]] = [:]
        try reader.forEach(bucket: Array("auth".utf8)) { k, v in auth[String(decoding: k, as: UTF8.self)] = v }
        if auth["authEnabled"] == [1] {
            throw Failure(description: "auth is enabled in this etcd data dir; swetcd has no auth yet: disable it in etcd first (etcdctl auth disable)")
        }
        var meta: [String: [UInt8]] = [:]
        try reader.forEach(bucket: Array("meta".utf8)) { k, v in meta[String(decoding: k, as: UTF8.self)] = v }
        func u64(_ bytes: [UInt8]?) -> UInt64 { (bytes ?? []).prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
        out.consistentIndex = u64(meta["consistent_index"])
        out.term = meta["term"].map { u64($0) } ?? termAt(out.consistentIndex)
        func revision(_ name: String) -> Int64 { meta[name].flatMap { $0.withUnsafeBytes { RevisionKey.decode($0) }?.0.main } ?? -1 }
        let compacted = revision("finishedCompactRev")
        // A compaction etcd scheduled but did not finish (or etcdutl's --mark-compacted) is done
        // here, as etcd finishes it when it starts.
        let scheduled = revision("scheduledCompactRev")

        var membership = Membership()
        try reader.forEach(bucket: Array("members".utf8)) { _, v in
            let member = try JSONDecoder().decode(MemberRecord.self, from: Data(v))
            membership.members[member.id] = member
        }
        try reader.forEach(bucket: Array("members_removed".utf8)) { k, _ in
            if let id = UInt64(String(decoding: k, as: UTF8.self), radix: 16) { membership.removed.insert(id) }
        }
        try reader.forEach(bucket: Array("cluster".utf8)) { k, v in
            if k == Array("clusterVersion".utf8) { membership.clusterVersion = String(decoding: v, as: UTF8.self) }
        }
        out.membership = membership

        try store.write { txn in
            // Keys and their leases: a key's lease is its newest version's, unless that is a tombstone.
            var leaseOf: [[UInt8]: Int64] = [:]
            try reader.forEach(bucket: Array("key".utf8)) { k, v in
                if v.isEmpty { return try txn.importRevisionBump(revisionKey: k) }
                let (kv, tombstone) = try txn.importRevision(revisionKey: k, value: v)
                if tombstone || kv.lease == 0 { leaseOf[kv.key] = nil } else { leaseOf[kv.key] = kv.lease }
                out.revisions += 1
                if out.revisions % progressEvery == 0 {
                    logger.info("importing etcd's keys", metadata: ["revisions": "\(out.revisions)"])
                }
            }
            txn.importCompactedRevision(compacted)
            if scheduled > compacted && scheduled <= txn.meta.currentRevision {
                logger.info("finishing the compaction etcd scheduled", metadata: ["revision": "\(scheduled)"])
                _ = try txn.compact(to: scheduled)
            }
            var leaseIDs = Set<Int64>()
            try reader.forEach(bucket: Array("lease".utf8)) { _, v in
                let lease = try Lease(serializedBytes: v)
                try leaseStore.putRecord(lease, in: txn.backend)
                leaseIDs.insert(lease.id)
                out.leases += 1
            }
            for (key, id) in leaseOf where leaseIDs.contains(id) {
                try leaseStore.attach(key, to: id, in: txn.backend)
            }
            var alarms: [AlarmMember] = []
            try reader.forEach(bucket: Array("alarm".utf8)) { k, _ in alarms.append(try AlarmMember(serializedBytes: k)) }
            if !alarms.isEmpty { try txn.putMeta(AlarmStore.metaKey, AlarmResponse(header: nil, alarms: alarms).serializedBytes()) }
            try MembershipStore.save(membership, txn)
            txn.setApplied(index: out.consistentIndex, term: out.term)
            out.currentRevision = txn.meta.currentRevision
        }
        return out
    }
}
