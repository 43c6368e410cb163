import EtcdProto
import Storage

/// The three LMDB tables of the MVCC store. Opened once at start-up (`MVCCTables.open`), then
/// shared read-only by every thread. Each version's bytes are stored once.
///
/// - `rev` (revisions): `RevisionKey` (etcd's 17/18-byte backend key) → encoded `mvccpb.KeyValue`
///   (only the key for a tombstone). The history in revision order, for historical reads, watch
///   catch-up and hashes.
/// - `hist` (per-key history, DUPSORT + DUPFIXED): user key → 17-byte entries, newest first,
///   naming every revision of the key still in `rev`. The first entry is the key's current
///   version (or its tombstone), so it serves current reads as well as reads at a past revision.
/// - `meta`: store state (`MVCCMeta`) and anything else the server persists atomically with
///   applied data (the applied raft index lives here, written in the same txn as the data).
public struct MVCCTables: Sendable {
    public let revisions: LMDBDatabase
    public let history: LMDBDatabase
    public let meta: LMDBDatabase

    /// The user key whose history is stored under `stored` (see `BackendKey`), read in `txn`.
    public func fullKey(ofStored stored: [UInt8], in txn: LMDBTransaction) throws -> [UInt8]? {
        try RangeQuery(txn: txn, tables: self).fullKey(ofStored: stored)
    }

    public static func open(_ env: LMDBEnvironment) throws -> MVCCTables {
        MVCCTables(
            revisions: try env.database(named: "rev"),
            history: try env.database(named: "hist", dupSort: true, dupFixed: true),
            meta: try env.database(named: "meta"))
    }
}

/// The store's counters, persisted as one fixed-layout value under `meta["mvcc"]` in every write
/// txn, so a reader's snapshot always has data and counters from the same commit.
public struct MVCCMeta: Equatable, Sendable {
    /// The last revision written (1 for an empty store, as etcd starts).
    public var currentRevision: Int64 = 1
    /// Reads below this revision answer ErrCompacted. -1 if never compacted, as etcd's
    /// `compactMainRev` starts: a first Compact(0) then succeeds, as it does in etcd.
    /// (Stores written before this default recorded 0, which behaves as a compaction at 0.)
    public var compactedRevision: Int64 = -1
    /// The raft log index of the last entry applied, and its term (etcd's consistent index).
    public var appliedIndex: UInt64 = 0
    public var appliedTerm: UInt64 = 0

    public static let key: [UInt8] = Array("mvcc".utf8)
    static let encodedBytes = 32

    public init() {}

    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.encodedBytes)
        RevisionKey.write(UInt64(bitPattern: currentRevision), into: &out, at: 0)
        RevisionKey.write(UInt64(bitPattern: compactedRevision), into: &out, at: 8)
        RevisionKey.write(appliedIndex, into: &out, at: 16)
        RevisionKey.write(appliedTerm, into: &out, at: 24)
        return out
    }

    init(decoding raw: UnsafeRawBufferPointer) throws(MVCCError) {
        guard raw.count == Self.encodedBytes else { throw .backend("meta record of \(raw.count) bytes") }
        currentRevision = Int64(bitPattern: RevisionKey.read(raw, at: 0))
        compactedRevision = Int64(bitPattern: RevisionKey.read(raw, at: 8))
        appliedIndex = RevisionKey.read(raw, at: 16)
        appliedTerm = RevisionKey.read(raw, at: 24)
    }

    public static func load(_ txn: LMDBTransaction, _ tables: MVCCTables) throws -> MVCCMeta {
        let value = try txn.withValue(tables.meta, key) { raw in try MVCCMeta(decoding: raw) }
        return value ?? MVCCMeta()
    }
}
