import EtcdProto
import Storage
import Synchronization

/// The multi-version key-value store (etcd's `mvcc` package) on LMDB.
///
/// Threading: `read` may be called from any thread at any time (LMDB readers never block the
/// writer and see one committed snapshot). `write` is for the apply thread only; there is one
/// writer. `meta` is the last committed counters, for status and metrics.
///
/// Start-up does no scan: the counters come from one `meta` record and the tables are used in
/// place, so opening a store of a million keys costs what opening the LMDB file costs.
public final class MVCCStore: @unchecked Sendable {
    public let environment: LMDBEnvironment
    public let tables: MVCCTables
    private let committed: Mutex<MVCCMeta>
    /// Hashes taken at the last compactions (see `hashKV`).
    public let compactionHashes = CompactionHashes()

    public init(environment: LMDBEnvironment) throws {
        self.environment = environment
        let tables = try MVCCTables.open(environment)
        self.tables = tables
        let meta = try environment.read { txn in try MVCCMeta.load(txn, tables) }
        committed = Mutex(meta)
    }

    /// Counters of the last committed write.
    public var meta: MVCCMeta { committed.withLock { $0 } }

    /// The environment's file was replaced (a snapshot from the leader): reads the counters
    /// again and forgets the compaction hashes of the old history. Apply thread only.
    public func reload() throws {
        let meta = try environment.read { txn in try MVCCMeta.load(txn, tables) }
        committed.withLock { $0 = meta }
        compactionHashes.clear()
    }

    /// A consistent read: the view's counters and data come from the same commit.
    public func read<R>(_ body: (MVCCReadView) throws -> R) throws -> R {
        try environment.read { txn in
            let meta = try MVCCMeta.load(txn, tables)
            return try body(MVCCReadView(txn: txn, tables: tables, meta: meta))
        }
    }

    /// Runs one apply batch in one LMDB write transaction; commits when `body` returns.
    /// Apply thread only.
    public func write<R>(_ body: (inout MVCCWriteTxn) throws -> R) throws -> R {
        let tables = self.tables
        let (result, meta, hashes) = try environment.write { txn in
            var writer = MVCCWriteTxn(txn: txn, tables: tables, meta: try MVCCMeta.load(txn, tables))
            let result = try body(&writer)
            try writer.flushMeta()
            return (result, writer.meta, writer.compactionHashes)
        }
        committed.withLock { $0 = meta }
        compactionHashes.store(hashes)
        return result
    }

    /// etcd 3.5.16's `HashByRev`: a hash a compaction took for exactly this revision if there is
    /// one (answered with the current revision), else the history hashed now.
    public func hashKV(revision: Int64) throws -> KVHash {
        if var stored = compactionHashes.hash(forRequestedRevision: revision) {
            stored.currentRevision = meta.currentRevision
            return stored
        }
        return try read { view in try view.hashKV(revision: revision) }
    }
}

/// A read-only snapshot of the store.
public struct MVCCReadView {
    let txn: LMDBTransaction
    let tables: MVCCTables
    public let meta: MVCCMeta

    public var currentRevision: Int64 { meta.currentRevision }

    public func getMeta(_ key: [UInt8]) throws -> [UInt8]? {
        try txn.get(tables.meta, key)
    }

    /// The LMDB transaction underneath (see `MVCCWriteTxn.backend`), read-only.
    public var backend: LMDBTransaction { txn }

    public func range(_ keys: KeyRange, options: RangeOptions) throws -> RangeResult {
        try RangeQuery(txn: txn, tables: tables).range(
            keys, options: options, currentRevision: meta.currentRevision, compactedRevision: meta.compactedRevision)
    }
}
