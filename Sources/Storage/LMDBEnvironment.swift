internal import CLMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One LMDB environment: a single data file (etcd keeps its backend at `member/snap/db`) and its
/// lock file `<path>-lock`, memory-mapped read-only, written through LMDB's single writer.
///
/// ## Durability
/// Opened with `MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSUBDIR`: a commit reaches the page
/// cache, not the disk. The write-ahead log makes writes durable (DESIGN.md §4): the MVCC layer
/// stores the applied Raft index in the same write transaction as the data, so after a crash it
/// replays the WAL from that index. A process crash (`kill -9`) loses nothing LMDB committed (the
/// page cache survives); a power loss may lose recent commits, and then only the WAL brings them
/// back. Hence: call `sync()` before releasing WAL segments that hold entries LMDB has applied
/// (`WriteAheadLog.releaseSegments(before:)`).
///
/// ## Threads
/// - `read` may be called from any thread, concurrently (NIO event loops): `MDB_NOTLS` ties reader
///   slots to transaction handles, not threads, and handles are pooled (`mdb_txn_reset` /
///   `mdb_txn_renew`), so a read costs no allocation and no reader-table lock in the steady state.
///   A read closure must not call `read` again on the same thread (see map growth), must not
///   block waiting for the writer, and must not let the transaction, a cursor or a borrowed
///   buffer escape.
/// - `write` is for the one writer thread (the raft/apply thread). Calls are serialised by a
///   mutex; one must not call `write` from inside a `write` closure (deadlock). A write closure may
///   call `read` (a separate snapshot, which does not see the uncommitted writes).
/// - `database(named:)` at start-up, before other threads use the environment.
/// - `sync`, `sizes`, `copy` from any thread, not from inside a `write` closure.
///
/// ## Map growth
/// The map starts at `mapSizeBytes`. After a commit that leaves the file more than 3/4 used, and
/// whenever a write hits `MDB_MAP_FULL`, the writer doubles the map (`mdb_env_set_mapsize`, capped
/// at `mapSizeBytesMax`). LMDB requires that no transaction of this process be active while the
/// map is replaced, so every read holds a shared gate for its duration and growth takes it
/// exclusively (waiting for in-flight reads; new reads wait behind it). A write that hit
/// `MDB_MAP_FULL` is aborted and **its closure runs again** after growth: a write closure must
/// have no effects outside its transaction (or only idempotent ones). At the maximum, `write`
/// throws `LMDBError.mapFull`.
///
/// ## Ownership
/// The environment owns the `MDB_env`, the pooled read transaction handles and every cursor; none
/// escapes a closure. Values read point into the map and die when the transaction ends or at the
/// next write in it: `get` copies, `withValue` lends. Open one environment per file per process
/// (LMDB: a second open of the same file in a process breaks its locks); `init` refuses a second.
public final class LMDBEnvironment: @unchecked Sendable {
    /// LMDB's compile-time `MDB_MAXKEYSIZE` in Debian's build: the longest key, and the longest
    /// value in a `dupSort` database.
    public static let maxKeyBytes = 511

    /// The data file. The lock file is `path + "-lock"`.
    public let path: String
    /// Growth stops here; then writes fail with `LMDBError.mapFull`.
    public let mapSizeBytesMax: Int
    public let maxReaders: Int
    /// Told how long each successful `mdb_txn_commit` took, in seconds (metrics). Set once,
    /// before the first write; called on the writing thread.
    private let commitObserver = Mutex<(@Sendable (Double) -> Void)?>(nil)

    public func observeCommits(_ observer: @escaping @Sendable (Double) -> Void) {
        commitObserver.withLock { $0 = observer }
    }

    /// Proactive growth when used bytes exceed this fraction (numerator / denominator) of the map.
    static let growthThresholdNumerator = 3
    static let growthThresholdDenominator = 4

    /// The LMDB environment. Replaced only by `compactInPlace()`, under `writeLock` with the gate
    /// exclusive; everything else uses it under one of the two.
    private(set) var env: OpaquePointer
    private let fileMode: UInt32
    private let maxDatabases: Int
    private static let openFlags = UInt32(MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD)
    /// Databases opened so far, in order: `compactInPlace()` opens them again after the swap
    /// (LMDB hands out the same handles for the same order of opens).
    private var openedDatabases: [(name: String?, flags: UInt32, dbi: MDB_dbi)] = []
    private let pageBytes: Int
    /// Shared for the life of every read transaction (and `sizes`/`copy`); exclusive while the map
    /// is replaced.
    private let gate = ReaderWriterGate()
    /// Serialises `write` (and growth, and close).
    private let writeLock = POSIXMutex()
    /// Reset read transaction handles ready for `mdb_txn_renew`, at most `poolCapacity`.
    private let pool: Mutex<ReadPool>
    private let poolCapacity: Int
    private let canonicalPath: String

    /// Current map size. Written only under `writeLock` with the gate exclusive.
    private var mapBytes: Int
    /// Set by any LMDB write call that returned `MDB_MAP_FULL` in the current write transaction.
    /// Only touched by the thread holding `writeLock`.
    var writeHitMapFull = false
    /// Write calls (put, reserve, delete, drop, cursor delete) attempted so far, successful or not.
    /// Only touched by the thread holding `writeLock`; read through `LMDBTransaction.writeCalls`.
    var writeCalls: UInt64 = 0

    private struct ReadPool: ~Copyable {
        var handles: [Handle] = []
        var isClosed = false
    }

    /// A read transaction handle; Sendable so it can sit in the pool's mutex. Only one thread uses
    /// a given handle at a time (it is out of the pool while in use).
    struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private static let openPaths = Mutex<Set<String>>([])

    /// Opens (creating if missing) the environment whose data file is `path`.
    ///
    /// - Parameters:
    ///   - path: the data file; its directory must exist. The lock file is `path-lock`.
    ///   - mapSizeBytes: initial map size, rounded up to the page size. If the file is already
    ///     larger, LMDB uses the file's recorded size.
    ///   - mapSizeBytesMax: growth limit (default: `mapSizeBytes`, i.e. no growth). etcd's
    ///     `--quota-backend-bytes` (2 GiB default) is the natural value.
    ///   - maxReaders: reader slots (`mdb_env_set_maxreaders`): concurrent read transactions plus
    ///     pooled handles; LMDB's default is 126.
    ///   - maxDatabases: named databases (`mdb_env_set_maxdbs`).
    ///   - fileMode: permissions of a new data file and lock file.
    public init(
        path: String, mapSizeBytes: Int, mapSizeBytesMax: Int? = nil, maxReaders: Int = 126,
        maxDatabases: Int = 16, fileMode: UInt32 = 0o600
    ) throws(LMDBError) {
        precondition(mapSizeBytes > 0 && maxReaders > 0 && maxDatabases >= 0, "invalid LMDB limits")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        func roundUp(_ n: Int) -> Int { (n + page - 1) / page * page }
        self.path = path
        self.pageBytes = page
        self.maxReaders = maxReaders
        self.mapSizeBytesMax = roundUp(Swift.max(mapSizeBytesMax ?? mapSizeBytes, mapSizeBytes))
        self.poolCapacity = Swift.max(1, maxReaders - 2)
        self.pool = Mutex(ReadPool())
        let canonicalPath = Self.canonicalize(path)
        self.canonicalPath = canonicalPath
        self.fileMode = fileMode
        self.maxDatabases = maxDatabases

        let claimed = Self.openPaths.withLock { $0.insert(canonicalPath).inserted }
        guard claimed else { throw .other(code: EBUSY, operation: "open \(path): already open in this process") }

        var created: OpaquePointer?
        let rc = mdb_env_create(&created)
        guard rc == MDB_SUCCESS, let env = created else {
            Self.openPaths.withLock { _ = $0.remove(canonicalPath) }
            throw .from(rc, "mdb_env_create")
        }
        self.env = env
        let initialMapBytes = roundUp(mapSizeBytes)
        self.mapBytes = initialMapBytes
        // Every stored property is initialised from here on, so a throw runs `deinit`, whose
        // `close()` closes the `MDB_env` (required after a failed `mdb_env_open` too) and
        // releases the path claim.
        let isNewFile = !POSIXFile.exists(path)
        try configureAndOpen(env, mapBytes: initialMapBytes)
        // A new data file's name is durable only once its directory is synced (LMDB syncs the
        // file's contents at each commit, never the directory).
        if isNewFile {
            do { try POSIXFile.syncDirectory(containing: path) } catch {
                throw .other(code: error.code, operation: "\(error.operation) \(error.path)")
            }
        }
        precondition(Int(mdb_env_get_maxkeysize(env)) == Self.maxKeyBytes, "liblmdb built with another MDB_MAXKEYSIZE")

        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        mapBytes = Int(info.me_mapsize)
    }

    /// Applies the limits to a created `MDB_env` and opens `path` with them (at start-up, and
    /// again after `compactInPlace` swapped the file).
    private func configureAndOpen(_ env: OpaquePointer, mapBytes: Int) throws(LMDBError) {
        var rc = mdb_env_set_mapsize(env, mapBytes)
        if rc != MDB_SUCCESS { throw .from(rc, "mdb_env_set_mapsize") }
        rc = mdb_env_set_maxreaders(env, UInt32(maxReaders))
        if rc != MDB_SUCCESS { throw .from(rc, "mdb_env_set_maxreaders") }
        rc = mdb_env_set_maxdbs(env, MDB_dbi(maxDatabases))
        if rc != MDB_SUCCESS { throw .from(rc, "mdb_env_set_maxdbs") }
        rc = mdb_env_open(env, path, Self.openFlags, mdb_mode_t(fileMode))
        if rc != MDB_SUCCESS { throw .from(rc, "mdb_env_open \(path)") }
    }

    deinit {
        close()
    }

    /// Closes the environment: aborts pooled read handles and closes the `MDB_env`. No transaction
    /// may be active (a read or write running on another thread is a programming error). Idempotent.
    public func close() {
        writeLock.lock()
        defer { writeLock.unlock() }
        gate.lockExclusive()
        defer { gate.unlock() }
        let handles: [Handle]? = pool.withLock { state in
            if state.isClosed { return nil }
            state.isClosed = true
            defer { state.handles = [] }
            return state.handles
        }
        guard let handles else { return }
        for handle in handles { mdb_txn_abort(handle.pointer) }
        mdb_env_close(env)
        Self.openPaths.withLock { _ = $0.remove(canonicalPath) }
    }

    // MARK: databases

    /// Opens the database `name` (nil: the unnamed main database), creating it if missing.
    /// Call at start-up, before concurrent use (`mdb_dbi_open` must not race other transactions).
    /// Opening an existing database with other flags throws `MDB_INCOMPATIBLE`.
    public func database(named name: String?, dupSort: Bool = false, dupFixed: Bool = false) throws -> LMDBDatabase {
        precondition(!dupFixed || dupSort, "dupFixed requires dupSort")
        var flags = UInt32(MDB_CREATE)
        if dupSort { flags |= UInt32(MDB_DUPSORT) }
        if dupFixed { flags |= UInt32(MDB_DUPFIXED) }
        return try write { txn in
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(txn.pointer, name, flags, &dbi)
            guard rc == MDB_SUCCESS else { throw LMDBError.from(rc, "mdb_dbi_open \(name ?? "<main>")") }
            openedDatabases.append((name, flags, dbi))
            return LMDBDatabase(name: name, isDupSort: dupSort, isDupFixed: dupFixed, dbi: dbi)
        }
    }

    // MARK: transactions

    /// Runs `body` in a read-only transaction: a consistent snapshot of the last commit, which never
    /// blocks and is never blocked by the writer. Any thread; see the type's notes on nesting.
    /// Whatever `body` returns must not point into the map (copy bytes out).
    @discardableResult
    public func read<R>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        gate.lockShared()
        defer { gate.unlock() }
        let handle = try takeReadHandle()
        defer { returnReadHandle(handle) }
        return try body(LMDBTransaction(pointer: handle.pointer, isReadOnly: true, environment: self))
    }

    /// Runs `body` in the write transaction: commits when it returns, aborts when it throws (and
    /// rethrows). On `MDB_MAP_FULL` the map grows and `body` runs again (see the type's notes).
    /// Writer thread only. The commit does not fsync (`MDB_NOSYNC`); `sync()` does.
    @discardableResult
    public func write<R>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        writeLock.lock()
        defer { writeLock.unlock() }
        while true {
            writeHitMapFull = false
            var created: OpaquePointer?
            var rc = mdb_txn_begin(env, nil, 0, &created)
            if rc == MDB_MAP_RESIZED {
                // Another process grew the map: adopt its size (size 0 = the file's recorded size).
                try setMapSize(0)
                continue
            }
            guard rc == MDB_SUCCESS, let pointer = created else { throw LMDBError.from(rc, "mdb_txn_begin") }
            let result: R
            do {
                result = try body(LMDBTransaction(pointer: pointer, isReadOnly: false, environment: self))
            } catch {
                mdb_txn_abort(pointer)
                if writeHitMapFull {
                    try grow()
                    continue
                }
                throw error
            }
            if writeHitMapFull {
                // The closure swallowed the error; the transaction is unusable. Grow and retry.
                mdb_txn_abort(pointer)
                try grow()
                continue
            }
            let commitStart = ContinuousClock.now
            rc = mdb_txn_commit(pointer)  // frees the handle, success or not
            if rc == MDB_SUCCESS, let observer = commitObserver.withLock({ $0 }) {
                let elapsed = ContinuousClock.now - commitStart
                observer(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            if rc == MDB_MAP_FULL {
                try grow()
                continue
            }
            guard rc == MDB_SUCCESS else { throw LMDBError.from(rc, "mdb_txn_commit") }
            try growIfNearlyFull()
            return result
        }
    }

    /// Flushes committed data to disk (`mdb_env_sync(force: 1)`: `fdatasync` of the data file).
    /// Any thread, not inside a `write` closure. Blocks for the duration of the flush.
    public func sync() throws(LMDBError) {
        gate.lockShared()
        defer { gate.unlock() }
        let rc = mdb_env_sync(env, 1)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_sync") }
    }

    /// Map size, bytes in use and the file's size. Any thread, not inside a `read` closure.
    /// Bytes of the map in use (last page + 1, times the page size), without a system call:
    /// cheap enough for a quota check on every write.
    public var usedBytes: Int {
        get throws(LMDBError) {
            gate.lockShared()
            defer { gate.unlock() }
            var info = MDB_envinfo()
            var rc = mdb_env_info(env, &info)
            guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_info") }
            var envStat = MDB_stat()
            rc = mdb_env_stat(env, &envStat)
            guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_stat") }
            return (Int(info.me_last_pgno) + 1) * Int(envStat.ms_psize)
        }
    }

    public var sizes: LMDBSizes {
        get throws(LMDBError) {
            gate.lockShared()
            defer { gate.unlock() }
            var info = MDB_envinfo()
            var rc = mdb_env_info(env, &info)
            guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_info") }
            var envStat = MDB_stat()
            rc = mdb_env_stat(env, &envStat)
            guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_stat") }
            let used = (Int(info.me_last_pgno) + 1) * Int(envStat.ms_psize)
            // The file can lag the last page by a page while the pages a commit wrote are being
            // flushed (it is extended by those writes): its size once written, never less than
            // what is in use (etcd's size is never below its size in use).
            return LMDBSizes(
                mapBytes: Int(info.me_mapsize),
                usedBytes: used,
                fileBytes: max(try fileBytesLocked(), used),
                pageBytes: Int(envStat.ms_psize),
                readerSlotsUsed: Int(info.me_numreaders))
        }
    }

    /// Writes a consistent copy of the last commit to a new file `destination` (which must not
    /// exist), then fsyncs it and its directory. With `compact`, free pages are omitted and pages
    /// renumbered (`MDB_CP_COMPACT`): the copy is defragmented, which is how `Defragment` and
    /// snapshots are made. The copy runs in its own read transaction while writes continue; it
    /// holds the growth gate shared, so map growth (and reads behind it) waits until it ends.
    /// Any thread, not inside a `read` or `write` closure (LMDB's copy takes the writer mutex).
    public func copy(to destination: String, compact: Bool) throws(LMDBError) {
        let fd = Glibc.open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .other(code: errno, operation: "open \(destination)") }
        var closed = false
        defer { if !closed { _ = Glibc.close(fd) } }
        do {
            gate.lockShared()
            defer { gate.unlock() }
            let rc = mdb_env_copyfd2(env, fd, compact ? UInt32(MDB_CP_COMPACT) : 0)
            guard rc == MDB_SUCCESS else {
                unlink(destination)
                throw LMDBError.from(rc, "mdb_env_copyfd2 \(destination)")
            }
        }
        guard fsync(fd) == 0 else { throw .other(code: errno, operation: "fsync \(destination)") }
        closed = true
        guard Glibc.close(fd) == 0 else { throw .other(code: errno, operation: "close \(destination)") }
        do {
            try POSIXFile.syncDirectory(containing: destination)
        } catch {
            throw .other(code: error.code, operation: "\(error.operation) \(error.path)")
        }
    }

    // MARK: defragmentation

    /// Replaces the data file by a compacted copy of itself (etcd's `Defragment`): free pages
    /// dropped, pages renumbered, so the file shrinks to what the data needs.
    ///
    /// Ordering: writes wait for the whole operation (`writeLock`); reads go on while the copy is
    /// written and wait only for the swap (the gate, exclusive). The copy is fsynced and renamed
    /// over the data file, so a crash at any moment leaves either the old file or the new one,
    /// each complete and holding the same commits. Any thread, not inside `read` or `write`.
    ///
    /// - Parameter progress: called with a line of text at each stage.
    /// - Returns: the data file's size before and after, in bytes.
    @discardableResult
    public func compactInPlace(progress: (String) -> Void = { _ in }) throws(LMDBError) -> (before: Int, after: Int) {
        writeLock.lock()
        defer { writeLock.unlock() }
        let temporary = path + ".defrag"
        unlink(temporary)  // left by a crash during an earlier run
        let before = try sizes.fileBytes
        progress("writing a compacted copy to \(temporary)")
        try copy(to: temporary, compact: true)

        gate.lockExclusive()
        defer { gate.unlock() }
        progress("swapping the compacted copy in")
        let handles: [Handle] = pool.withLock { state in
            defer { state.handles = [] }
            return state.handles
        }
        for handle in handles { mdb_txn_abort(handle.pointer) }
        mdb_env_close(env)
        var renamed = true
        if rename(temporary, path) != 0 {
            renamed = false
            unlink(temporary)
        } else {
            try? POSIXFile.syncDirectory(containing: path)
        }
        // The file on disk is complete either way; failing to open it again leaves this process
        // without its backend, and a restart opens it.
        do {
            try reopen()
        } catch {
            fatalError("LMDB: cannot reopen \(path) after defragmentation: \(error); restart to recover")
        }
        guard renamed else { throw .other(code: errno, operation: "rename \(temporary) \(path)") }
        let after = try fileBytesLocked()
        return (before, after)
    }

    /// Replaces the data file by `file` (a copy of another member's backend, received with a raft
    /// snapshot): `file` is renamed over the data file and the environment reopened with the same
    /// database handles. Writes and reads wait for the swap. `file` must be on the same file
    /// system, fsynced, and an environment with the same databases. Any thread, not inside
    /// `read` or `write`.
    public func replace(with file: String) throws(LMDBError) {
        writeLock.lock()
        defer { writeLock.unlock() }
        gate.lockExclusive()
        defer { gate.unlock() }
        let handles: [Handle] = pool.withLock { state in
            defer { state.handles = [] }
            return state.handles
        }
        for handle in handles { mdb_txn_abort(handle.pointer) }
        mdb_env_close(env)
        let renamed = rename(file, path) == 0
        let renameErrno = errno
        if renamed { try? POSIXFile.syncDirectory(containing: path) }
        do {
            try reopen()
        } catch {
            fatalError("LMDB: cannot reopen \(path) after replacing it: \(error); restart to recover")
        }
        guard renamed else { throw .other(code: renameErrno, operation: "rename \(file) \(path)") }
    }

    /// Opens `path` again with the same settings and database handles. Under `writeLock` with the
    /// gate exclusive, after `mdb_env_close`.
    private func reopen() throws(LMDBError) {
        var created: OpaquePointer?
        var rc = mdb_env_create(&created)
        guard rc == MDB_SUCCESS, let fresh = created else { throw .from(rc, "mdb_env_create") }
        env = fresh
        try configureAndOpen(fresh, mapBytes: mapBytes)
        var txn: OpaquePointer?
        rc = mdb_txn_begin(fresh, nil, 0, &txn)
        guard rc == MDB_SUCCESS, let txn else { throw .from(rc, "mdb_txn_begin") }
        for opened in openedDatabases {
            var dbi = MDB_dbi()
            rc = mdb_dbi_open(txn, opened.name, opened.flags, &dbi)
            guard rc == MDB_SUCCESS, dbi == opened.dbi else {
                mdb_txn_abort(txn)
                throw .from(rc == MDB_SUCCESS ? MDB_INCOMPATIBLE : rc, "mdb_dbi_open \(opened.name ?? "<main>") again")
            }
        }
        rc = mdb_txn_commit(txn)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_txn_commit") }
        var info = MDB_envinfo()
        mdb_env_info(fresh, &info)
        mapBytes = Int(info.me_mapsize)
    }

    /// The data file's size. With the gate held (either way) or under `writeLock`.
    private func fileBytesLocked() throws(LMDBError) -> Int {
        var fd: mdb_filehandle_t = -1
        let rc = mdb_env_get_fd(env, &fd)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_get_fd") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .other(code: errno, operation: "fstat \(path)") }
        return Int(st.st_size)
    }

    // MARK: read handle pool

    private func takeReadHandle() throws(LMDBError) -> Handle {
        let pooled: Handle? = pool.withLock { state in
            precondition(!state.isClosed, "LMDBEnvironment used after close()")
            return state.handles.popLast()
        }
        if let pooled {
            let rc = mdb_txn_renew(pooled.pointer)
            guard rc == MDB_SUCCESS else {
                mdb_txn_abort(pooled.pointer)
                throw .from(rc, "mdb_txn_renew")
            }
            return pooled
        }
        var created: OpaquePointer?
        let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &created)
        guard rc == MDB_SUCCESS, let pointer = created else { throw .from(rc, "mdb_txn_begin(RDONLY)") }
        return Handle(pointer: pointer)
    }

    private func returnReadHandle(_ handle: Handle) {
        mdb_txn_reset(handle.pointer)
        let kept = pool.withLock { state in
            guard !state.isClosed, state.handles.count < poolCapacity else { return false }
            state.handles.append(handle)
            return true
        }
        // Beyond the pool's capacity, free the handle and its reader slot.
        if !kept { mdb_txn_abort(handle.pointer) }
    }

    // MARK: growth (writer thread, under writeLock, no transaction of ours active)

    private func grow() throws(LMDBError) {
        guard mapBytes < mapSizeBytesMax else { throw .mapFull(mapSizeBytesMax: mapSizeBytesMax) }
        let doubled = mapBytes > mapSizeBytesMax / 2 ? mapSizeBytesMax : mapBytes * 2
        try setMapSize(Swift.min(mapSizeBytesMax, (doubled + pageBytes - 1) / pageBytes * pageBytes))
    }

    private func growIfNearlyFull() throws(LMDBError) {
        guard mapBytes < mapSizeBytesMax else { return }
        var info = MDB_envinfo()
        guard mdb_env_info(env, &info) == MDB_SUCCESS else { return }
        let used = (Int(info.me_last_pgno) + 1) * pageBytes
        if used * Self.growthThresholdDenominator > mapBytes * Self.growthThresholdNumerator {
            try grow()
        }
    }

    private func setMapSize(_ bytes: Int) throws(LMDBError) {
        gate.lockExclusive()
        defer { gate.unlock() }
        let rc = mdb_env_set_mapsize(env, bytes)
        guard rc == MDB_SUCCESS else { throw .from(rc, "mdb_env_set_mapsize") }
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        mapBytes = Int(info.me_mapsize)
    }

    /// `realpath` of the directory + the file name, so two spellings of one file collide.
    private static func canonicalize(_ path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(directory.isEmpty ? "/" : directory, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }
}
