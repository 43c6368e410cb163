internal import CLMDB
import EtcdProto

/// A position in one database, lent to the closure of `LMDBTransaction.withCursor`.
///
/// Every move returns true when the cursor landed on an item and false when there is none
/// (`MDB_NOTFOUND`); after false the position is unspecified: use `first`, `last` or a `seek`
/// before reading again. Other failures throw `LMDBError`. `next()` on a fresh cursor acts as
/// `first()`, `prev()` as `last()`, so `while try cursor.next() { … }` walks the whole database.
///
/// In a `dupSort` database an item is one (key, value) pair: `next`/`prev` visit every value of
/// every key; the `…NoDup` moves skip to the next/previous key (landing on its first/last value);
/// the `…Dup` moves stay within the current key.
///
/// `key` and `value` **borrow** memory in the map: valid until the next move, `deleteCurrent`,
/// any write in the transaction, or the end of the transaction, whichever comes first. Use
/// `keyBytes`/`valueBytes` for copies.
public struct LMDBCursor {
    let pointer: OpaquePointer
    let transaction: LMDBTransaction
    private var k = MDB_val()
    private var v = MDB_val()
    /// Whether the last move landed on an item (so `key`/`value` may be read).
    public private(set) var isPositioned = false

    init(pointer: OpaquePointer, transaction: LMDBTransaction) {
        self.pointer = pointer
        self.transaction = transaction
    }

    // MARK: borrowed and copied item

    /// The current key, borrowed (see the type's notes on lifetime).
    public var key: UnsafeRawBufferPointer {
        precondition(isPositioned, "cursor is not on an item")
        return k.buffer
    }

    /// The current value, borrowed (see the type's notes on lifetime).
    public var value: UnsafeRawBufferPointer {
        precondition(isPositioned, "cursor is not on an item")
        return v.buffer
    }

    /// A copy of the current key.
    public var keyBytes: [UInt8] { [UInt8](key) }
    /// A copy of the current value.
    public var valueBytes: [UInt8] { [UInt8](value) }

    // MARK: moves

    public mutating func first() throws(LMDBError) -> Bool { try move(MDB_FIRST) }
    public mutating func last() throws(LMDBError) -> Bool { try move(MDB_LAST) }
    public mutating func next() throws(LMDBError) -> Bool { try move(MDB_NEXT) }
    public mutating func prev() throws(LMDBError) -> Bool { try move(MDB_PREV) }
    /// The first value of the next key.
    public mutating func nextNoDup() throws(LMDBError) -> Bool { try move(MDB_NEXT_NODUP) }
    /// The last value of the previous key.
    public mutating func prevNoDup() throws(LMDBError) -> Bool { try move(MDB_PREV_NODUP) }
    /// The next value of the current key (false at its last value).
    public mutating func nextDup() throws(LMDBError) -> Bool { try move(MDB_NEXT_DUP) }
    /// The previous value of the current key (false at its first value).
    public mutating func prevDup() throws(LMDBError) -> Bool { try move(MDB_PREV_DUP) }
    /// The first value of the current key (`dupSort`, cursor on an item).
    public mutating func firstDup() throws(LMDBError) -> Bool { try move(MDB_FIRST_DUP, refresh: true) }
    /// The last value of the current key (`dupSort`, cursor on an item).
    public mutating func lastDup() throws(LMDBError) -> Bool { try move(MDB_LAST_DUP, refresh: true) }

    /// The first key ≥ `key` (`MDB_SET_RANGE`), on its first value.
    public mutating func seek(atOrAfter key: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        try withBorrowedBytes(key) { kb throws(LMDBError) -> Bool in
            k = MDB_val(kb)
            return try move(MDB_SET_RANGE, keyBytes: kb.count)
        }
    }

    /// Exactly `key` (`MDB_SET_KEY`), on its first value.
    public mutating func seek(exact key: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        try withBorrowedBytes(key) { kb throws(LMDBError) -> Bool in
            k = MDB_val(kb)
            return try move(MDB_SET_KEY, keyBytes: kb.count)
        }
    }

    /// In a `dupSort` database: exactly `key`, on its first value ≥ `value` (`MDB_GET_BOTH_RANGE`).
    /// False if the key is absent or all its values are < `value`.
    public mutating func seekDup(key: some ContiguousBytesLike, atOrAfter value: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        try seekBoth(key, value, MDB_GET_BOTH_RANGE)
    }

    /// In a `dupSort` database: exactly the pair (`key`, `value`) (`MDB_GET_BOTH`).
    public mutating func seekDup(key: some ContiguousBytesLike, exact value: some ContiguousBytesLike) throws(LMDBError) -> Bool {
        try seekBoth(key, value, MDB_GET_BOTH)
    }

    /// Number of values of the current key (`mdb_cursor_count`; `dupSort` only, cursor on an item).
    public func duplicateCount() throws(LMDBError) -> Int {
        precondition(isPositioned, "cursor is not on an item")
        var count = 0
        let rc = mdb_cursor_count(pointer, &count)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_cursor_count") }
        return count
    }

    /// Deletes the current item (with `allDuplicates`, every value of the current key). The cursor
    /// is then between items: `next()` lands on the item after the deleted one, so deleting while
    /// walking forward is `while try c.next() { if … { try c.deleteCurrent() } }`.
    public mutating func deleteCurrent(allDuplicates: Bool = false) throws(LMDBError) {
        precondition(!transaction.isReadOnly, "deleteCurrent in a read-only transaction")
        transaction.environment.writeCalls &+= 1
        precondition(isPositioned, "cursor is not on an item")
        let rc = mdb_cursor_del(pointer, allDuplicates ? UInt32(MDB_NODUPDATA) : 0)
        isPositioned = false
        guard rc == MDB_SUCCESS else { throw transaction.writeError(rc, "mdb_cursor_del") }
    }

    // MARK: internals

    private mutating func move(_ op: MDB_cursor_op, refresh: Bool = false, keyBytes: Int = 0) throws(LMDBError) -> Bool {
        var rc = mdb_cursor_get(pointer, &k, &v, op)
        if rc == MDB_SUCCESS && refresh {
            // Some ops fill only the value, or leave `k` pointing at the caller's buffer.
            rc = mdb_cursor_get(pointer, &k, &v, MDB_GET_CURRENT)
        }
        if rc == MDB_NOTFOUND {
            isPositioned = false
            return false
        }
        guard rc == MDB_SUCCESS else {
            isPositioned = false
            throw .from(rc, "mdb_cursor_get(\(op.rawValue))", bytes: keyBytes)
        }
        isPositioned = true
        return true
    }

    private mutating func seekBoth(_ key: some ContiguousBytesLike, _ value: some ContiguousBytesLike, _ op: MDB_cursor_op) throws(LMDBError) -> Bool {
        try withBorrowedBytes(key) { kb throws(LMDBError) -> Bool in
            try withBorrowedBytes(value) { vb throws(LMDBError) -> Bool in
                k = MDB_val(kb)
                v = MDB_val(vb)
                // GET_BOTH(_RANGE) leaves `k` on the caller's buffer: refresh from the map.
                return try move(op, refresh: true, keyBytes: kb.count)
            }
        }
    }
}

/// `ContiguousBytesLike.withBytes` with a closure that throws `E` (its own closure cannot throw).
@inline(__always)
func withBorrowedBytes<R, E: Error>(_ bytes: some ContiguousBytesLike, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    try bytes.withBytes { raw in Result { () throws(E) -> R in try body(raw) } }.get()
}
