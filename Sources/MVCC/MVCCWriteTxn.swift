import EtcdProto
import Storage

/// One change to the store, as watchers see it (an `mvccpb.Event`): for a put, the new version;
/// for a delete, the key with `modRevision` set to the deleting revision (etcd's tombstone
/// event). `prevKV` is the key's version before the request that made this change (etcd's
/// watch reads it at `modRevision - 1`), if any: a txn that puts a key and then deletes it gives
/// both events the version from before the txn. A create event has none (`isCreate`).
public struct MVCCChange: Sendable, Equatable {
    public var kv: KeyValue
    public var isDelete: Bool
    public var prevKV: KeyValue?

    public init(kv: KeyValue, isDelete: Bool, prevKV: KeyValue? = nil) {
        self.kv = kv
        self.isDelete = isDelete
        self.prevKV = prevKV
    }

    /// etcd's `IsCreateEvent`: a put at the key's create revision. Its watchers get no prev_kv.
    public static func isCreate(_ kv: KeyValue, isDelete: Bool) -> Bool {
        !isDelete && kv.createRevision == kv.modRevision
    }
}

/// The writes of one apply batch, inside one LMDB write transaction (apply thread only).
///
/// Each client request is bracketed by `beginRequest()`/`endRequest()`: every change between them
/// shares one main revision (the current revision + 1) with increasing sub-revisions, and the
/// current revision advances at `endRequest()` only if something changed — etcd's rule that a
/// request that changes nothing (a delete of no keys, a txn of reads) does not bump the revision.
/// Reads made between them see the request's own earlier changes, as in etcd's `storeTxnWrite`.
public struct MVCCWriteTxn {
    let txn: LMDBTransaction
    let tables: MVCCTables
    public private(set) var meta: MVCCMeta
    /// Changes made by the current request.
    public private(set) var changes: [MVCCChange] = []
    /// Changes of every request in this batch, in order (the watch hub's input).
    public private(set) var batchChanges: [MVCCChange] = []
    /// Hashes taken by this transaction's compactions; the store keeps them once it commits.
    private(set) var compactionHashes: [KVHash] = []
    private var inRequest = false
    /// The version before the current request of each key it changed; filled only from a
    /// request's second change on (a single put never pays for it).
    private var requestPrevious: [[UInt8]: KeyValue?] = [:]
    private var metaDirty = false
    /// The backend's write-call counter when the current request began.
    private var requestStartWriteCalls: UInt64 = 0

    init(txn: LMDBTransaction, tables: MVCCTables, meta: MVCCMeta) {
        self.txn = txn
        self.tables = tables
        self.meta = meta
    }

    /// The revision the current request writes at.
    public var writeRevision: Int64 { meta.currentRevision + 1 }

    /// The revision a read inside the current request sees.
    public var readRevision: Int64 { changes.isEmpty ? meta.currentRevision : meta.currentRevision + 1 }

    public mutating func beginRequest() {
        precondition(!inRequest, "beginRequest twice")
        inRequest = true
        changes.removeAll(keepingCapacity: true)
        requestPrevious.removeAll(keepingCapacity: true)
        requestStartWriteCalls = txn.writeCalls
    }

    /// Whether the current request has written anything to the backend (MVCC's tables or any
    /// other, through `backend`). A request that fails before writing leaves the batch as it
    /// was; one that fails after cannot be undone inside the batch's transaction.
    public var requestHasWritten: Bool {
        precondition(inRequest, "requestHasWritten outside a request")
        return txn.writeCalls != requestStartWriteCalls
    }

    /// Ends the request; returns the store revision after it.
    @discardableResult
    public mutating func endRequest() -> Int64 {
        precondition(inRequest, "endRequest without beginRequest")
        inRequest = false
        if !changes.isEmpty {
            meta.currentRevision += 1
            metaDirty = true
            batchChanges.append(contentsOf: changes)
        }
        return meta.currentRevision
    }

    // MARK: reads

    public func range(_ keys: KeyRange, options: RangeOptions) throws -> RangeResult {
        var result = try RangeQuery(txn: txn, tables: tables).range(
            keys, options: options, currentRevision: readRevision, compactedRevision: meta.compactedRevision)
        result.revision = readRevision
        return result
    }

    /// The live version of `key`, if any.
    public func get(_ key: [UInt8]) throws -> KeyValue? {
        try RangeQuery(txn: txn, tables: tables).latest(key)
    }

    // MARK: writes

    /// Whether `put` can store `key`: what a txn checks before its first write, so that it
    /// fails whole instead of halfway.
    public static func checkStorable(_ key: [UInt8]) throws(MVCCError) {
        // Any length is storable (`BackendKey`); the request size limit bounds it.
        if key.isEmpty { throw .emptyKey }
    }

    /// The user key whose history is stored under `stored` (see `BackendKey`), if any.
    public func fullKey(ofStored stored: [UInt8]) throws -> [UInt8]? {
        try RangeQuery(txn: txn, tables: tables).fullKey(ofStored: stored)
    }

    /// Writes `key`; returns the previous live version.
    @discardableResult
    public mutating func put(key: [UInt8], value: [UInt8], lease: Int64) throws -> KeyValue? {
        precondition(inRequest, "put outside a request")
        try Self.checkStorable(key)
        let stored = BackendKey.encode(key)
        if BackendKey.isDigested(stored), try txn.contains(tables.history, stored), try RangeQuery(txn: txn, tables: tables).fullKey(ofStored: stored) != key {
            // Another key's digest: never seen with SHA-256, but it must not merge two histories.
            throw MVCCError.keyCollision
        }
        let previous = try get(key)
        let rev = Revision(main: writeRevision, sub: Int64(changes.count))
        var kv = KeyValue(key: key, createRevision: rev.main, modRevision: rev.main, version: 1, value: value, lease: lease)
        if let previous {
            kv.createRevision = previous.createRevision
            kv.version = previous.version + 1
        }
        try txn.put(tables.revisions, RevisionKey.encode(rev), kv.serializedBytes())
        try txn.put(tables.history, stored, RevisionKey.historyEntry(rev, tombstone: false))
        let before = previousBeforeRequest(key, now: previous)
        // etcd's watch gives a create event (a put whose key was not live just before it) no
        // prev_kv, even when a txn deleted the key earlier in the same request.
        changes.append(MVCCChange(kv: kv, isDelete: false, prevKV: MVCCChange.isCreate(kv, isDelete: false) ? nil : before))
        return previous
    }

    /// Deletes every live key in `keys`; returns the deleted versions, in key order.
    public mutating func deleteRange(_ keys: KeyRange) throws -> [KeyValue] {
        precondition(inRequest, "deleteRange outside a request")
        let live = try range(keys, options: RangeOptions()).kvs
        for old in live {
            let rev = Revision(main: writeRevision, sub: Int64(changes.count))
            let tombstone = KeyValue(key: old.key)
            try txn.put(tables.revisions, RevisionKey.encode(rev, tombstone: true), tombstone.serializedBytes())
            try txn.put(tables.history, BackendKey.encode(old.key), RevisionKey.historyEntry(rev, tombstone: true))
            var event = tombstone
            event.modRevision = rev.main
            changes.append(MVCCChange(kv: event, isDelete: true, prevKV: previousBeforeRequest(old.key, now: old)))
        }
        return live
    }

    /// `key`'s version before the current request, given `now`, its version before this change.
    private mutating func previousBeforeRequest(_ key: [UInt8], now: KeyValue?) -> KeyValue? {
        guard !changes.isEmpty else { return now }
        if requestPrevious.isEmpty {
            for c in changes where requestPrevious[c.kv.key] == nil { requestPrevious[c.kv.key] = .some(c.prevKV) }
        }
        if let recorded = requestPrevious[key] { return recorded }
        requestPrevious[key] = .some(now)
        return now
    }

    /// Server state kept beside the data (alarms, membership, ...), under `meta` keys that must
    /// not collide with `MVCCMeta.key`. Written in the batch's transaction, so it is exactly as
    /// durable as the data.
    public func putMeta(_ key: [UInt8], _ value: [UInt8]) throws {
        precondition(key != MVCCMeta.key, "meta key reserved")
        try txn.put(tables.meta, key, value)
    }

    public func getMeta(_ key: [UInt8]) throws -> [UInt8]? {
        try txn.get(tables.meta, key)
    }

    /// The LMDB transaction underneath, for server state kept in tables of its own beside MVCC's
    /// (the leases' key lists): what is written through it commits or aborts with the batch.
    /// Never for MVCC's own tables.
    public var backend: LMDBTransaction { txn }

    // MARK: import (migration from etcd's backend)

    /// Stores one revision exactly as etcd's `key` bucket holds it (its 17- or 18-byte revision
    /// key, its encoded `mvccpb.KeyValue`), with the history entry that finds it; revisions must
    /// come in ascending order. The current revision follows. Not for the apply path: no request,
    /// no change for watchers. Returns the decoded version (its key, lease, tombstone).
    public mutating func importRevision(revisionKey: [UInt8], value: [UInt8]) throws -> (KeyValue, tombstone: Bool) {
        guard let (rev, tombstone) = revisionKey.withUnsafeBytes({ RevisionKey.decode($0) }) else {
            throw MVCCError.backend("a revision key of \(revisionKey.count) bytes")
        }
        let kv: KeyValue
        do { kv = try KeyValue(serializedBytes: value) } catch { throw MVCCError.backend("revision \(rev): \(error)") }
        guard !kv.key.isEmpty else { throw MVCCError.backend("revision \(rev): a version without a key") }
        guard rev.main >= meta.currentRevision || meta.currentRevision == 1 else {
            throw MVCCError.backend("revision \(rev) after \(meta.currentRevision)")
        }
        try txn.put(tables.revisions, revisionKey, value)
        try txn.put(tables.history, BackendKey.encode(kv.key), RevisionKey.historyEntry(rev, tombstone: tombstone))
        meta.currentRevision = Swift.max(meta.currentRevision, rev.main)
        metaDirty = true
        return (kv, tombstone)
    }

    /// A revision with no version (etcdutl's `--bump-revision` writes one with an empty value):
    /// the current revision moves to it.
    public mutating func importRevisionBump(revisionKey: [UInt8]) throws {
        guard let (rev, _) = revisionKey.withUnsafeBytes({ RevisionKey.decode($0) }) else {
            throw MVCCError.backend("a revision key of \(revisionKey.count) bytes")
        }
        meta.currentRevision = Swift.max(meta.currentRevision, rev.main)
        metaDirty = true
    }

    /// The compacted revision of an imported history (-1: never compacted).
    public mutating func importCompactedRevision(_ revision: Int64) {
        meta.compactedRevision = revision
        metaDirty = true
    }

    /// Records the raft entry this batch applied up to; stored in the same commit as the data.
    public mutating func setApplied(index: UInt64, term: UInt64) {
        meta.appliedIndex = index
        meta.appliedTerm = term
        metaDirty = true
    }

    /// Compacts the history up to `revision`: every revision ≤ `revision` that is not the latest
    /// of its key at `revision`, and every tombstone that is (unless it is at `revision` itself),
    /// is removed. Reads below `revision` then fail with ErrCompacted.
    public mutating func compact(to revision: Int64, keysPerBatch: Int = Compactor.defaultKeysPerBatch) throws -> MVCCCompactionStats {
        precondition(keysPerBatch > 0, "a compaction batch of no keys")
        if revision <= meta.compactedRevision { throw MVCCError.compacted }
        if revision > meta.currentRevision { throw MVCCError.futureRevision }
        compactionHashes.append(try compactionHash(revision: revision))
        meta.compactedRevision = revision
        metaDirty = true
        return try Compactor(txn: txn, tables: tables, keysPerBatch: keysPerBatch).compact(to: revision)
    }

    /// Writes the meta record if anything changed; the store calls this before commit.
    mutating func flushMeta() throws {
        guard metaDirty else { return }
        try txn.put(tables.meta, MVCCMeta.key, meta.encoded())
        metaDirty = false
    }
}
