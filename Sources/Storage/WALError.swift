#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a write-ahead log operation failed.
///
/// After any failure of `append`, `saveSnapshotMarker`, `sync` or a segment cut the log is
/// *failed*: every later call throws `.failed(first error)`, because after a failed write or
/// `fdatasync` the kernel may have dropped the dirty pages and the file's tail is unknown
/// ("fsyncgate"). The only way on is to close and `open` again, which re-reads and repairs.
public indirect enum WALError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A record that cannot be trusted where a torn write is impossible: a bad record followed
    /// by valid ones, any bad record in a segment before the last, a segment header that does not
    /// match its file name, a gap in entry indexes or segment sequence numbers, metadata that
    /// differs between segments. Never silently dropped: an operator must decide (restore this
    /// member from a snapshot, or remove it and re-add it to the cluster).
    case corrupt(segment: String, offset: Int, reason: String)
    /// A system call failed (`errno`), other than ENOSPC.
    case io(errno: Int32, operation: String, path: String)
    /// ENOSPC (or EDQUOT): the disk is full. Distinct so the server can raise etcd's NOSPACE alarm.
    case noSpace(path: String)
    /// Another process (or another `WriteAheadLog` in this process) holds the directory's lock.
    case locked(path: String)
    /// `open` found no segment files.
    case notFound(directory: String)
    /// `create` found segment files already there.
    case alreadyExists(directory: String)
    /// `open(fromSnapshot:)`: no snapshot marker with that index in the segments read, or the
    /// segments that would hold entries right after it were released.
    case snapshotNotFound(index: UInt64, term: UInt64)
    /// `open(fromSnapshot:)`: a marker with that index was found with another term.
    case snapshotMismatch(index: UInt64, expectedTerm: UInt64, foundTerm: UInt64)
    /// An earlier write, sync or cut failed with the associated error; reopen the log.
    case failed(WALError)
    /// The log was closed.
    case closed

    public var description: String {
        switch self {
        case .corrupt(let segment, let offset, let reason): "WAL corrupt: \(segment) at offset \(offset): \(reason)"
        case .io(let code, let op, let path): "WAL I/O error: \(op) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .noSpace(let path): "WAL: no space left on device writing \(path)"
        case .locked(let path): "WAL: \(path) is locked by another process"
        case .notFound(let dir): "WAL: no segment files in \(dir)"
        case .alreadyExists(let dir): "WAL: segment files already exist in \(dir)"
        case .snapshotNotFound(let index, let term): "WAL: snapshot marker (index \(index), term \(term)) not found"
        case .snapshotMismatch(let index, let expected, let found): "WAL: snapshot marker at index \(index) has term \(found), expected \(expected)"
        case .failed(let first): "WAL failed earlier and must be reopened: \(first)"
        case .closed: "WAL is closed"
        }
    }

    init(_ error: SystemCallError) {
        if error.code == ENOSPC || error.code == EDQUOT {
            self = .noSpace(path: error.path)
        } else {
            self = .io(errno: error.code, operation: error.operation, path: error.path)
        }
    }
}
