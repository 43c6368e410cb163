internal import CLMDB

/// A named database (B-tree) inside an `LMDBEnvironment`, from `LMDBEnvironment.database(named:)`.
///
/// A plain value: valid for the life of the environment, usable from any thread and in any
/// transaction begun after the one that opened it committed. Keys sort bytewise (memcmp order,
/// shorter first on a common prefix). In a `dupSort` database one key holds a sorted set of
/// values ("duplicates"), each at most `LMDBEnvironment.maxKeyBytes`; with `dupFixed` too, all
/// values of one key have the same size (LMDB then packs them densely).
public struct LMDBDatabase: Hashable, Sendable {
    /// The name given at open; nil for the environment's unnamed main database.
    public let name: String?
    public let isDupSort: Bool
    public let isDupFixed: Bool
    /// LMDB's `MDB_dbi` handle.
    let dbi: UInt32

    init(name: String?, isDupSort: Bool, isDupFixed: Bool, dbi: UInt32) {
        self.name = name
        self.isDupSort = isDupSort
        self.isDupFixed = isDupFixed
        self.dbi = dbi
    }
}

/// Flags for `LMDBTransaction.put(_:_:_:options:)`, LMDB's `mdb_put` flags.
public struct LMDBPutOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MDB_NOOVERWRITE`: do not replace an existing key (in a `dupSort` database: do not add a
    /// value to an existing key); `put` returns false instead.
    public static let noOverwrite = LMDBPutOptions(rawValue: UInt32(MDB_NOOVERWRITE))
    /// `MDB_NODUPDATA` (`dupSort` only): do not add a value already present; `put` returns false.
    public static let noDuplicateData = LMDBPutOptions(rawValue: UInt32(MDB_NODUPDATA))
    /// `MDB_APPEND`: the key is known to sort after every key in the database; LMDB skips the
    /// search and fills pages completely (fast sorted bulk load). A key that does not sort last
    /// makes `put` throw `LMDBError.other(code: MDB_KEYEXIST)`.
    public static let append = LMDBPutOptions(rawValue: UInt32(MDB_APPEND))
    /// `MDB_APPENDDUP` (`dupSort` only): as `.append`, for the values of the last key.
    public static let appendDuplicate = LMDBPutOptions(rawValue: UInt32(MDB_APPENDDUP))
}

/// Sizes of an environment, from `LMDBEnvironment.sizes`.
public struct LMDBSizes: Equatable, Sendable {
    /// The current memory map size: the most the data file can grow to before the map is grown.
    public var mapBytes: Int
    /// Bytes of the file in use: (last used page number + 1) × page size. Pages freed by deletes
    /// stay in the file (on LMDB's free list) until `copy(to:compact: true)` defragments.
    public var usedBytes: Int
    /// Size of the data file on disk (`st_size`).
    public var fileBytes: Int
    /// LMDB's page size (the OS page size, 4096 here).
    public var pageBytes: Int
    /// Reader slots ever used in the lock file (a high-water mark, ≤ `maxReaders`).
    public var readerSlotsUsed: Int
}
