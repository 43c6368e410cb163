internal import CLMDB
import EtcdProto

/// A read-only or read-write LMDB transaction, lent to the closure of `LMDBEnvironment.read` or
/// `LMDBEnvironment.write`.
///
/// Valid only inside that closure, on the thread running it: never store it, never pass it to
/// another thread or across an `await`. Byte buffers it lends (`withValue`, cursor `key`/`value`)
/// point into the memory map and are valid only until the transaction ends **or the next write
/// in it** (a write may move or reuse the page); copy (`get`, `keyBytes`) to keep them.
///
/// Keys and values are passed as `ContiguousBytesLike` (`[UInt8]`, `ArraySlice<UInt8>`,
/// `UnsafeRawBufferPointer`) and handed to LMDB without a copy. Keys must be 1...511 bytes
/// (`LMDBEnvironment.maxKeyBytes`), else `LMDBError.keyTooLong`.
///
/// Write methods on a read-only transaction are a programming error (precondition).
public struct LMDBTransaction {
    let pointer: OpaquePointer
    public let isReadOnly: Bool
    /// Unowned: the environment outlives every transaction (the transaction only exists inside a
    /// closure the environment runs).
    unowned(unsafe) let environment: LMDBEnvironment

    init(pointer: OpaquePointer, isReadOnly: Bool, environment: LMDBEnvironment) {
        self.pointer = pointer
        self.isReadOnly = isReadOnly
        self.environment = environment
    }

    // MARK: reads

    /// A copy of the value of `key` (in a `dupSort` database: its first value), or nil.
    public func get(_ db: LMDBDatabase, _ key: some ContiguousBytesLike) throws(LMDBError) -> [UInt8]? {
        var data = MDB_val()
        var keyBytes = 0
        let rc = key.withBytes { k in
            keyBytes = k.count
            var kv = MDB_val(k)
            return mdb_get(pointer, db.dbi, &kv, &data)
        }
        if rc == MDB_NOTFOUND { return nil }
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_get", bytes: keyBytes) }
        return [UInt8](data.buffer)
    }

    /// Lends the value of `key` to `body` without copying; nil (and `body` not called) when absent.
    /// The buffer dies when the transaction ends or at its next write.
    public func withValue<R>(_ db: LMDBDatabase, _ key: some ContiguousBytesLike, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        var data = MDB_val()
        var keyBytes = 0
        let rc = key.withBytes { k in
            keyBytes = k.count
            var kv = MDB_val(k)
            return mdb_get(pointer, db.dbi, &kv, &data)
        }
        if rc == MDB_NOTFOUND { return nil }
        guard rc == MDB_SUCCESS else { throw LMDBError.from(rc, "mdb_get", bytes: keyBytes) }
        return try body(data.buffer)
    }

    /// Whether `key` is present.
    public func contains(_ db: LMDBDatabase, _ key: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        var data = MDB_val()
        var keyBytes = 0
        let rc = key.withBytes { k in
            keyBytes = k.count
            var kv = MDB_val(k)
            return mdb_get(pointer, db.dbi, &kv, &data)
        }
        if rc == MDB_NOTFOUND { return false }
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_get", bytes: keyBytes) }
        return true
    }

    /// Number of items in `db` (in a `dupSort` database, every value counts), from `mdb_stat`:
    /// constant time.
    public func entryCount(_ db: LMDBDatabase) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        let rc = mdb_stat(pointer, db.dbi, &stat)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_stat") }
        return Int(stat.ms_entries)
    }

    /// Opens a cursor on `db` for the duration of `body`, then closes it. Cursors are cheap (one
    /// small allocation inside LMDB); do not keep one across transactions (you cannot: it is
    /// closure-scoped).
    public func withCursor<R>(_ db: LMDBDatabase, _ body: (inout LMDBCursor) throws -> R) throws -> R {
        var created: OpaquePointer?
        let rc = mdb_cursor_open(pointer, db.dbi, &created)
        guard rc == MDB_SUCCESS, let cursorPointer = created else { throw LMDBError.from(rc, "mdb_cursor_open") }
        defer { mdb_cursor_close(cursorPointer) }
        var cursor = LMDBCursor(pointer: cursorPointer, transaction: self)
        return try body(&cursor)
    }

    // MARK: writes

    /// A counter of the write calls made through the writer so far (it never goes back, also not
    /// across transactions). Two readings that differ mean something was (or may have been)
    /// written between them: what the applier checks before it lets a request fail cleanly.
    public var writeCalls: UInt64 {
        precondition(!isReadOnly, "writeCalls of a read-only transaction")
        return environment.writeCalls
    }

    /// Stores `value` under `key` (in a `dupSort` database: adds it to the key's values; adding a
    /// value already present is a no-op that returns true). Returns false, writing nothing, when
    /// `noOverwrite` is set and the key exists.
    @discardableResult
    public func put(_ db: LMDBDatabase, _ key: some ContiguousBytesLike, _ value: some ContiguousBytesLike, noOverwrite: Bool) throws(LMDBError) -> Bool {
        try put(db, key, value, options: noOverwrite ? .noOverwrite : [])
    }

    /// Stores `value` under `key` with `mdb_put` flags. Returns false, writing nothing, when
    /// `.noOverwrite` / `.noDuplicateData` found the key / the value already there. With `.append`
    /// or `.appendDuplicate` alone, an out-of-order item throws `LMDBError.other(MDB_KEYEXIST)`.
    @discardableResult
    public func put(_ db: LMDBDatabase, _ key: some ContiguousBytesLike, _ value: some ContiguousBytesLike, options: LMDBPutOptions = []) throws(LMDBError) -> Bool {
        precondition(!isReadOnly, "put in a read-only transaction")
        environment.writeCalls &+= 1
        var keyBytes = 0
        var valueBytes = 0
        let rc = key.withBytes { k in
            value.withBytes { v in
                keyBytes = k.count
                valueBytes = v.count
                var kv = MDB_val(k)
                var vv = MDB_val(v)
                return mdb_put(pointer, db.dbi, &kv, &vv, options.rawValue)
            }
        }
        if rc == MDB_KEYEXIST && !options.isDisjoint(with: [.noOverwrite, .noDuplicateData]) { return false }
        guard rc == MDB_SUCCESS else {
            throw writeError(rc, "mdb_put", bytes: keyBytes > LMDBEnvironment.maxKeyBytes || keyBytes == 0 ? keyBytes : valueBytes)
        }
        return true
    }

    /// Reserves `count` bytes for the value of `key` (`MDB_RESERVE`) and lets `fill` write them in
    /// place, saving the copy `put` makes. Not for `dupSort` databases. The buffer is valid only
    /// inside `fill`; `fill` must write every byte and must not call other write methods.
    public func reserve(_ db: LMDBDatabase, _ key: some ContiguousBytesLike, count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(!isReadOnly, "reserve in a read-only transaction")
        environment.writeCalls &+= 1
        precondition(!db.isDupSort, "MDB_RESERVE is not allowed in a dupSort database")
        var vv = MDB_val(mv_size: count, mv_data: nil)
        var keyBytes = 0
        let rc = key.withBytes { k in
            keyBytes = k.count
            var kv = MDB_val(k)
            return mdb_put(pointer, db.dbi, &kv, &vv, UInt32(MDB_RESERVE))
        }
        guard rc == MDB_SUCCESS else { throw writeError(rc, "mdb_put(RESERVE)", bytes: keyBytes) }
        try fill(UnsafeMutableRawBufferPointer(start: vv.mv_data, count: vv.mv_size))
    }

    /// Deletes `key` (in a `dupSort` database: with all its values). Returns false if absent.
    @discardableResult
    public func delete(_ db: LMDBDatabase, _ key: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        precondition(!isReadOnly, "delete in a read-only transaction")
        environment.writeCalls &+= 1
        var keyBytes = 0
        let rc = key.withBytes { k in
            keyBytes = k.count
            var kv = MDB_val(k)
            return mdb_del(pointer, db.dbi, &kv, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        guard rc == MDB_SUCCESS else { throw writeError(rc, "mdb_del", bytes: keyBytes) }
        return true
    }

    /// Deletes one value of `key` in a `dupSort` database. Returns false if that pair is absent.
    @discardableResult
    public func delete(_ db: LMDBDatabase, _ key: some ContiguousBytesLike, value: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        precondition(!isReadOnly, "delete in a read-only transaction")
        environment.writeCalls &+= 1
        var keyBytes = 0
        let rc = key.withBytes { k in
            value.withBytes { v in
                keyBytes = k.count
                var kv = MDB_val(k)
                var vv = MDB_val(v)
                return mdb_del(pointer, db.dbi, &kv, &vv)
            }
        }
        if rc == MDB_NOTFOUND { return false }
        guard rc == MDB_SUCCESS else { throw writeError(rc, "mdb_del", bytes: keyBytes) }
        return true
    }

    /// Empties `db`; the handle stays valid.
    public func drop(_ db: LMDBDatabase) throws(LMDBError) {
        precondition(!isReadOnly, "drop in a read-only transaction")
        environment.writeCalls &+= 1
        let rc = mdb_drop(pointer, db.dbi, 0)
        guard rc == MDB_SUCCESS else { throw writeError(rc, "mdb_drop") }
    }

    /// Builds the error for a failed write call, noting `MDB_MAP_FULL` so `write` grows the map
    /// and retries even if the closure swallows the error.
    func writeError(_ rc: Int32, _ operation: String, bytes: Int = 0) -> LMDBError {
        if rc == MDB_MAP_FULL { environment.writeHitMapFull = true }
        return .from(rc, operation, bytes: bytes, mapSizeBytesMax: environment.mapSizeBytesMax)
    }
}

extension MDB_val {
    /// Points LMDB at borrowed bytes (LMDB never writes through a key or data pointer we pass).
    init(_ buffer: UnsafeRawBufferPointer) {
        self.init(mv_size: buffer.count, mv_data: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
    }

    var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mv_data, count: mv_size)
    }
}
