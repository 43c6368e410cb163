/// The layout of an etcd-style data directory (`--data-dir`), as etcd lays it out:
///
///     <path>/member/            memberDirectory
///     <path>/member/wal/        walDirectory      (WriteAheadLog)
///     <path>/member/snap/       snapDirectory     (SnapshotStore)
///     <path>/member/snap/db     backendPath       (LMDBEnvironment; lock file db-lock)
///
/// Directories are created with mode 0700 (etcd insists on it for data dirs). A plain value:
/// any thread. It locks nothing: the WAL's `flock` (taken by `WriteAheadLog.create`/`open`) is
/// what keeps two processes off one data directory, so open the WAL first.
public struct DataDirectory: Hashable, Sendable {
    public let path: String

    public init(path: String) {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.path = trimmed
    }

    public var memberDirectory: String { "\(path)/member" }
    public var walDirectory: String { "\(memberDirectory)/wal" }
    public var snapDirectory: String { "\(memberDirectory)/snap" }
    public var backendPath: String { "\(snapDirectory)/db" }

    /// True when there is no WAL yet: the member has never started here (etcd's `haveWAL` check
    /// decides between bootstrapping a new member and restarting an existing one the same way).
    public var isNew: Bool { !WriteAheadLog.exists(directory: walDirectory) }

    /// Creates `member/`, `member/snap/` (and parents) if missing, syncing each parent. The WAL
    /// directory is made by `WriteAheadLog.create`.
    public func createLayout() throws(SnapshotStoreError) {
        do {
            try POSIXFile.makeDirectories(snapDirectory)
        } catch {
            throw SnapshotStoreError(error)
        }
    }
}
