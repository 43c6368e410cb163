internal import CLMDB

/// An LMDB call that failed, with LMDB's return code.
///
/// Every LMDB return code other than `MDB_SUCCESS`, and `MDB_NOTFOUND` / `MDB_KEYEXIST` where the
/// API turns them into a `nil` / `false` result, is reported as one of these. `code` is the raw
/// return code (an LMDB `MDB_*` code, all negative, or a positive `errno`), `message` is
/// `mdb_strerror(code)`.
public enum LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `MDB_MAP_FULL`: the environment reached `mapSizeBytesMax` (the map was grown up to that
    /// limit and the write still did not fit). The write transaction was aborted.
    case mapFull(mapSizeBytesMax: Int)
    /// `MDB_READERS_FULL`: every reader slot (`maxReaders`) is taken by a live read transaction.
    case readersFull
    /// `MDB_BAD_VALSIZE`: a key was empty or longer than `LMDBEnvironment.maxKeyBytes` (511), or a
    /// value stored in a `dupSort` database was longer than that.
    case keyTooLong(bytes: Int)
    /// `MDB_CORRUPTED`, `MDB_PAGE_NOTFOUND`, `MDB_PANIC`, `MDB_INVALID` or
    /// `MDB_VERSION_MISMATCH`: the file is damaged, or not an LMDB file of this version. Fatal for
    /// the environment: close it and restore from a snapshot.
    case corrupted(code: Int32, operation: String)
    /// Anything else, e.g. `ENOSPC`/`EIO` from a commit, `MDB_DBS_FULL`, `EACCES`, `MDB_KEYEXIST`
    /// from an out-of-order `.append`. `operation` names the LMDB call.
    case other(code: Int32, operation: String)

    /// The raw LMDB return code.
    public var code: Int32 {
        switch self {
        case .mapFull: MDB_MAP_FULL
        case .readersFull: MDB_READERS_FULL
        case .keyTooLong: MDB_BAD_VALSIZE
        case .corrupted(let code, _), .other(let code, _): code
        }
    }

    /// `mdb_strerror(code)` (LMDB's own text, or `strerror` for an errno).
    public var message: String {
        guard let cString = mdb_strerror(code) else { return "LMDB error \(code)" }
        return String(cString: cString)
    }

    public var description: String {
        switch self {
        case .mapFull(let max): "LMDB map full at its maximum size \(max) bytes: \(message)"
        case .readersFull: "LMDB reader table full: \(message)"
        case .keyTooLong(let bytes): "LMDB key or duplicate value of \(bytes) bytes is empty or too long (max \(LMDBEnvironment.maxKeyBytes)): \(message)"
        case .corrupted(let code, let op): "LMDB corruption in \(op) (\(code)): \(message)"
        case .other(let code, let op): "LMDB \(op) failed (\(code)): \(message)"
        }
    }

    /// Classifies a non-zero return code. `bytes` is the key (or dup value) size for
    /// `MDB_BAD_VALSIZE`; `mapSizeBytesMax` is reported for `MDB_MAP_FULL`.
    static func from(_ rc: Int32, _ operation: String, bytes: Int = 0, mapSizeBytesMax: Int = 0) -> LMDBError {
        precondition(rc != MDB_SUCCESS, "not an error")
        switch rc {
        case MDB_MAP_FULL: return .mapFull(mapSizeBytesMax: mapSizeBytesMax)
        case MDB_READERS_FULL: return .readersFull
        case MDB_BAD_VALSIZE: return .keyTooLong(bytes: bytes)
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC, MDB_INVALID, MDB_VERSION_MISMATCH:
            return .corrupted(code: rc, operation: operation)
        default: return .other(code: rc, operation: operation)
        }
    }
}
