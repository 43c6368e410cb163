import Crypto
import EtcdProto
import Foundation
import Logging
import MVCC
import Storage

/// `swetcd snapshot status|restore` (etcdutl's `snapshot status` and `snapshot restore`, with
/// its flags and its checks) for snapshots in etcd's bbolt format, made by swetcd or by etcd, and
/// `swetcd migrate` (an etcd data dir imported in place without starting).
public enum SnapshotTool {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public struct Status: Equatable, Sendable {
        public var hash: UInt32
        public var revision: Int64
        public var totalKey: Int
        public var totalSize: Int
    }

    /// etcdutl's `Status`: a CRC-32C over every bucket's name, keys and values in order; the
    /// revision of the last `key` bucket entry; every pair counted; the database's size.
    public static func status(path: String) throws -> Status {
        let reader = try BboltReader(path: path)
        var crc: UInt32 = 0
        var revision: Int64 = 0
        var total = 0
        for name in try reader.bucketNames() {
            crc = name.withUnsafeBytes { CRC32C.update(crc, $0) }
            let isKey = name == Array("key".utf8)
            try reader.forEach(bucket: name) { k, v in
                crc = k.withUnsafeBytes { CRC32C.update(crc, $0) }
                crc = v.withUnsafeBytes { CRC32C.update(crc, $0) }
                if isKey, let (rev, _) = k.withUnsafeBytes({ RevisionKey.decode($0) }) { revision = rev.main }
                total += 1
            }
        }
        return Status(hash: crc, revision: revision, totalKey: total, totalSize: Int(reader.pageCount) * reader.pageSize)
    }

    /// etcdutl's three ways to print a status.
    public static func format(_ s: Status, as writeOut: String) throws -> String {
        let size = HumanBytes.format(UInt64(s.totalSize))
        let hash = String(s.hash, radix: 16)
        switch writeOut {
        case "simple":
            return "\(hash), \(s.revision), \(s.totalKey), \(size)\n"
        case "json":
            return "{\"hash\":\(s.hash),\"revision\":\(s.revision),\"totalKey\":\(s.totalKey),\"totalSize\":\(s.totalSize)}\n"
        case "table":
            let headers = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"]
            let cells = [hash, "\(s.revision)", "\(s.totalKey)", size]
            let widths = zip(headers, cells).map { max($0.count, $1.count) }
            func centered(_ t: String, _ w: Int) -> String {
                let left = (w - t.count) / 2
                return String(repeating: " ", count: left) + t + String(repeating: " ", count: w - t.count - left)
            }
            let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) + "+" }.joined()
            let head = "|" + zip(headers, widths).map { " \(centered($0, $1)) |" }.joined()
            let row = "|" + zip(cells, widths).map { " " + String(repeating: " ", count: $1 - $0.count) + $0 + " |" }.joined()
            return [rule, head, rule, row, rule].joined(separator: "\n") + "\n"
        default:
            throw Failure(description: "unsupported output format \"\(writeOut)\"")
        }
    }

    public struct RestoreConfig {
        public var snapshotPath: String
        public var name = "default"
        public var dataDir = ""
        public var walDir = ""
        public var initialCluster: [(name: String, peerURL: String)] = []
        public var initialClusterToken = "etcd-cluster"
        public var initialAdvertisePeerURLs = ["http://localhost:2380"]
        public var skipHashCheck = false
        public var bumpRevision: Int64 = 0
        public var markCompacted = false

        public init(snapshotPath: String) { self.snapshotPath = snapshotPath }
    }

    /// etcdutl's `snapshot restore`: the snapshot's hash checked (when it has one), its backend
    /// imported, the membership replaced by `--initial-cluster`, and a log that starts after it,
    /// so that the member starts as the first of a new cluster holding that data. Nothing is left
    /// behind when it fails.
    public static func restore(_ c: RestoreConfig, logger: Logger) throws {
        let dataDir = c.dataDir.isEmpty ? c.name + ".etcd" : c.dataDir
        if FileManager.default.fileExists(atPath: dataDir) { throw Failure(description: "data-dir \"\(dataDir)\" exists") }
        try verifyHash(c.snapshotPath, skip: c.skipHashCheck)
        let urlsByName = Dictionary(grouping: c.initialCluster.isEmpty ? c.initialAdvertisePeerURLs.map { (c.name, $0) } : c.initialCluster.map { ($0.name, $0.peerURL) }, by: \.0)
        let members = urlsByName.map { name, pairs in
            let urls = pairs.map(\.1).sorted()
            return MemberRecord(id: ServerIdentity.memberID(peerURLs: urls, clusterToken: c.initialClusterToken), peerURLs: urls, name: name)
        }.sorted { $0.id < $1.id }
        guard let me = members.first(where: { $0.name == c.name }) else {
            throw Failure(description: "couldn't find local name \"\(c.name)\" in the initial cluster configuration")
        }
        guard Set(me.peerURLs) == Set(c.initialAdvertisePeerURLs) else {
            throw Failure(description: "--initial-cluster has \(c.name)=\(me.peerURLs.joined(separator: ",")) but missing from --initial-advertise-peer-urls=\(c.initialAdvertisePeerURLs.joined(separator: ","))")
        }
        let clusterID = ServerIdentity.clusterID(memberIDs: members.map(\.id))
        do {
            try write(c, dataDir: dataDir, members: members, me: me, clusterID: clusterID, logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: dataDir)
            if !c.walDir.isEmpty { try? FileManager.default.removeItem(atPath: c.walDir) }
            throw error
        }
        logger.info("restored snapshot", metadata: [
            "path": "\(c.snapshotPath)", "data-dir": "\(dataDir)", "wal-dir": "\(c.walDir.isEmpty ? dataDir + "/member/wal" : c.walDir)",
            "snap-dir": "\(dataDir)/member/snap",
        ])
    }

    private static func write(_ c: RestoreConfig, dataDir: String, members: [MemberRecord], me: MemberRecord, clusterID: UInt64, logger: Logger) throws {
        let layout = DataDirectory(path: dataDir)
        try layout.createLayout()
        let reader = try BboltReader(path: c.snapshotPath)
        let env = try LMDBEnvironment(path: layout.backendPath, mapSizeBytes: EtcdServer.mapSizeMinBytes, maxReaders: 16, maxDatabases: 16)
        defer { env.close() }
        let store = try MVCCStore(environment: env)
        let leaseStore = try LeaseStore(store: store)
        _ = try EtcdMigration.importBackend(reader, into: store, leaseStore: leaseStore, logger: logger) { _ in 1 }
        // etcdutl: the members are the new cluster's; the log's first N entries added them, so
        // the backend stands at index N, term 1.
        var membership = Membership()
        for m in members { membership.members[m.id] = m }
        let index = UInt64(members.count)
        try store.write { txn in
            let old = try MembershipStore.load(txn)
            membership.clusterVersion = old.clusterVersion
            try MembershipStore.save(membership, txn)
            txn.setApplied(index: index, term: 1)
            if c.bumpRevision > 0 {
                let latest = txn.meta.currentRevision + c.bumpRevision
                logger.info("bumping latest revision", metadata: ["latest-revision": "\(latest)", "bump-amount": "\(c.bumpRevision)"])
                try txn.importRevisionBump(revisionKey: RevisionKey.encode(Revision(main: latest)))
            }
            if c.markCompacted && txn.meta.currentRevision > max(txn.meta.compactedRevision, 0) {
                logger.info("marking revision compacted", metadata: ["revision": "\(txn.meta.currentRevision)"])
                _ = try txn.compact(to: txn.meta.currentRevision)
            }
        }
        let snapshots = try SnapshotStore(directory: layout.snapDirectory)
        try snapshots.save(Snapshot(data: [], metadata: SnapshotMetadata(confState: membership.confState, index: index, term: 1)))
        let wal = try WriteAheadLog.create(
            directory: c.walDir.isEmpty ? layout.walDirectory : c.walDir,
            metadata: WALMetadata(nodeID: me.id, clusterID: clusterID).serializedBytes())
        try wal.saveSnapshotMarker(index: index, term: 1)
        try wal.append(entries: [], hardState: HardState(term: 1, vote: members[0].id, commit: index))
        try wal.sync()
        try wal.close()
        for m in members {
            logger.info("added member", metadata: [
                "cluster-id": "\(String(clusterID, radix: 16))", "local-member-id": "0",
                "added-peer-id": "\(String(m.id, radix: 16))", "added-peer-peer-urls": "\(m.peerURLs)",
            ])
        }
    }

    /// etcdutl's check: a file that ends in a SHA-256 of what precedes it (its size is 32 past a
    /// multiple of 512) must match it; one without needs `--skip-hash-check`.
    static func verifyHash(_ path: String, skip: Bool) throws {
        guard let handle = FileHandle(forReadingAtPath: path),
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int
        else { throw Failure(description: "open \(path): no such file or directory") }
        defer { try? handle.close() }
        guard size % 512 == 32 else {
            if skip { return }
            throw Failure(description: "snapshot missing hash but --skip-hash-check=false")
        }
        var hash = SHA256()
        var remaining = size - 32
        while remaining > 0 {
            guard let chunk = try handle.read(upToCount: min(1 << 20, remaining)), !chunk.isEmpty else {
                throw Failure(description: "\(path): shorter than its size")
            }
            hash.update(data: chunk)
            remaining -= chunk.count
        }
        let expected = [UInt8](try handle.read(upToCount: 32) ?? Data())
        let got = Array(hash.finalize())
        guard expected == got else {
            throw Failure(description: "expected sha256 \(expected), got \(got)")
        }
    }

    /// `swetcd migrate`: imports the etcd data dir at `dataDir` in place (etcd's files kept
    /// aside), without starting a member.
    public static func migrate(dataDir: String, walDir: String?, logger: Logger) throws {
        guard try EtcdMigration.migrateIfNeeded(dataDir: dataDir, walDir: walDir, logger: logger) else {
            throw Failure(description: "\(dataDir) holds no etcd data dir (no bbolt backend at member/snap/db)")
        }
    }
}
