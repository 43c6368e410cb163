import EtcdProto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The write-ahead log: Raft entries, hard states and snapshot markers, appended to preallocated
/// segment files in `<data-dir>/member/wal/` and made durable with one `fdatasync` per batch.
/// The format is documented on `WALFormat` (file names, record framing, CRC, alignment, repair).
///
/// ## Use
/// ```
/// let log = try WriteAheadLog.create(directory: dir, metadata: ids)      // new member
/// let (log, contents) = try WriteAheadLog.open(directory: dir, fromSnapshot: snap)  // restart
/// try log.append(entries: ready.entries, hardState: ready.hardState)   // whole Ready batch
/// try log.sync()                                                      // one fdatasync
/// // … only now send the messages that depend on those entries, acknowledge the writes …
/// try log.saveSnapshotMarker(index: i, term: t)  // after the .snap file is saved (syncs)
/// try log.releaseSegments(before: i)             // after LMDB is synced up to ≥ i
/// ```
/// A write is durable once `sync()` returns; `append` alone only reaches the page cache (which
/// survives `kill -9` but not a power loss).
///
/// ## Threads and ownership
/// Not thread-safe: one thread (the raft thread) owns the log and makes every call. It may be
/// created on one thread and handed to another (hence `@unchecked Sendable`) if the hand-off
/// synchronises. The log owns its file descriptors, its directory lock (`flock` on
/// `wal/lock`, released by `close` or deinit) and a background queue that preallocates the next
/// segment. Entries passed in are encoded into one reusable buffer and written with one
/// `pwrite` per call: no allocation per entry.
///
/// ## Failure
/// Any failed write, sync or cut leaves the log *failed* (every later call throws
/// `WALError.failed`): after a failed `fdatasync` the page cache may have dropped the data, so
/// the only safe way on is to close, reopen (which re-reads and repairs) and retry.
/// Tuning of a `WriteAheadLog`; the defaults are etcd's.
public struct WALOptions: Sendable {
    /// Segments are preallocated to this size and cut when the next batch would not fit
    /// (etcd's `SegmentSizeBytes`, 64 MiB). At least `WriteAheadLog.minimumSegmentBytes`.
    public var segmentBytes: Int
    /// Create and preallocate the next segment on a background queue, so a cut does not wait for
    /// it (etcd's file pipeline).
    public var preallocateAhead: Bool
    /// Also write zeros over each new segment (on the background queue when `preallocateAhead`)
    /// instead of only `fallocate`-ing it. Measured here, `fdatasync` after a 32 KiB write into a
    /// zero-filled file takes about 0.6× as long (no unwritten-extent conversion to journal),
    /// at the price of writing each segment twice and of reading the zeros back at open.
    public var zeroFillSegments: Bool

    public init(segmentBytes: Int = WriteAheadLog.defaultSegmentBytes, preallocateAhead: Bool = true, zeroFillSegments: Bool = false) {
        precondition(segmentBytes >= WriteAheadLog.minimumSegmentBytes, "segmentBytes below \(WriteAheadLog.minimumSegmentBytes)")
        self.segmentBytes = segmentBytes
        self.preallocateAhead = preallocateAhead
        self.zeroFillSegments = zeroFillSegments
    }
}

public final class WriteAheadLog: @unchecked Sendable {
    /// etcd's `SegmentSizeBytes`.
    public static let defaultSegmentBytes = 64 << 20
    /// etcd's `--max-wals` default.
    public static let defaultMaxSegmentsKept = 5
    /// The smallest segment size accepted (tests use small segments to exercise cuts).
    public static let minimumSegmentBytes = 4096

    public let directory: String
    public let options: WALOptions
    private var segmentBytes: Int { options.segmentBytes }

    private var fd: Int32
    private(set) var segment: WALSegmentName
    private var salt: UInt64
    /// Where the next record goes in the current segment.
    private(set) var offset: Int
    /// Offset just past the current segment's header and hard state records.
    private var contentStart: Int
    /// Every segment file, oldest first; the last is the current one.
    private var segments: [WALSegmentName]
    private let metadata: [UInt8]
    private var lockFD: Int32
    private var buffer = WALRecordBuffer()
    private let preparer: WALSegmentPreparer?
    private var failure: WALError?
    private var isClosed = false

    /// Index of the last entry appended (or of a later snapshot marker): the next entry appended
    /// must have an index in `1...lastIndex + 1`.
    public private(set) var lastIndex: UInt64
    /// The last hard state appended or read.
    public private(set) var hardState: HardState

    /// File names of the current segments, oldest first.
    public var segmentFileNames: [String] { segments.map(\.fileName) }

    private init(
        directory: String, options: WALOptions, fd: Int32, segment: WALSegmentName, salt: UInt64,
        offset: Int, contentStart: Int, segments: [WALSegmentName], metadata: [UInt8], lockFD: Int32,
        lastIndex: UInt64, hardState: HardState
    ) {
        self.directory = directory
        self.options = options
        self.fd = fd
        self.segment = segment
        self.salt = salt
        self.offset = offset
        self.contentStart = contentStart
        self.segments = segments
        self.metadata = metadata
        self.lockFD = lockFD
        self.lastIndex = lastIndex
        self.hardState = hardState
        self.preparer = options.preallocateAhead ? WALSegmentPreparer(directory: directory, options: options) : nil
        preparer?.prepareNext()
    }

    deinit {
        if !isClosed { release() }
    }

    // MARK: create / open

    /// Whether `directory` holds at least one segment file.
    public static func exists(directory: String) -> Bool {
        ((try? POSIXFile.listDirectory(directory)) ?? []).contains { WALSegmentName(fileName: $0) != nil }
    }

    /// Creates a new log in `directory` (created with parents if missing, mode 0700) with its
    /// first segment `0000000000000000-0000000000000000.wal`, holding `metadata` (opaque: node and
    /// cluster IDs), durable when this returns. Throws `.alreadyExists` if segments are there.
    public static func create(directory: String, metadata: [UInt8], options: WALOptions = WALOptions()) throws(WALError) -> WriteAheadLog {
        do { try POSIXFile.makeDirectories(directory) } catch { throw WALError(error) }
        let lockFD = try acquireLock(directory)
        do throws(WALError) {
            if exists(directory: directory) { throw WALError.alreadyExists(directory: directory) }
            try removeTemporaryFiles(directory)
            let name = WALSegmentName(sequence: 0, firstIndex: 0)
            let salt = newSalt()
            var buffer = WALRecordBuffer(capacity: 4096)
            buffer.reset(salt: salt, fileOffset: 0)
            buffer.appendSegmentHeader(name, salt: salt, metadata: metadata)
            buffer.appendHardState(HardState())
            let fd = try writeNewSegment(directory: directory, name: name, records: buffer.bytes, options: options, fd: nil)
            return WriteAheadLog(
                directory: directory, options: options, fd: fd, segment: name,
                salt: salt, offset: buffer.count, contentStart: buffer.count, segments: [name], metadata: metadata,
                lockFD: lockFD, lastIndex: 0, hardState: HardState())
        } catch {
            POSIXFile.close(lockFD)
            throw error
        }
    }

    /// Opens the log in `directory` for appending, after reading it.
    ///
    /// With `fromSnapshot`, reading starts at the newest segment whose first index is ≤ the
    /// snapshot's index (segments wholly before it are not read), entries at or below the
    /// snapshot are skipped, and the snapshot's marker must be among the records read
    /// (`.snapshotNotFound` / `.snapshotMismatch` otherwise). Without it, every segment is read.
    ///
    /// A torn tail of the last segment is cut off (truncated, the rest of the preallocation
    /// zeroed, synced) and reported to `onRepair` before this returns; any other damage throws
    /// `.corrupt` (see `WALFormat`). Leftover `.tmp` files are deleted. Takes the directory lock
    /// (`.locked` if held). The log accepts appends right away.
    public static func open(
        directory: String, fromSnapshot: WALSnapshotMarker? = nil, options: WALOptions = WALOptions(),
        onRepair: (WALRepair) -> Void = { _ in }
    ) throws(WALError) -> (log: WriteAheadLog, contents: WALContents) {
        let segmentBytes = options.segmentBytes
        guard POSIXFile.isDirectory(directory) else { throw .notFound(directory: directory) }
        let lockFD = try acquireLock(directory)
        do throws(WALError) {
            let names = try listSegments(directory)
            try removeTemporaryFiles(directory)
            let start = try firstSegmentToRead(names, fromSnapshot: fromSnapshot)
            var reader = WALReader(directory: directory, fromSnapshot: fromSnapshot.flatMap { $0.index == 0 ? nil : $0 })
            var outcome: WALReader.SegmentOutcome?
            for i in start..<names.count {
                outcome = try reader.readSegment(names[i], isLast: i == names.count - 1)
            }
            guard let last = outcome, let metadata = reader.metadata else { throw WALError.notFound(directory: directory) }
            if let snapshot = fromSnapshot, snapshot.index > 0, !reader.foundSnapshot {
                throw WALError.snapshotNotFound(index: snapshot.index, term: snapshot.term)
            }

            let lastName = names[names.count - 1]
            let path = "\(directory)/\(lastName.fileName)"
            let fd: Int32
            do { fd = try POSIXFile.open(path, O_RDWR) } catch { throw WALError(error) }
            do {
                if let repair = last.tornTail {
                    // Cut the torn record off and restore an all-zero preallocated tail, durably,
                    // before anything is appended after it.
                    try POSIXFile.ftruncate(fd, repair.offset, path: path)
                    try POSIXFile.preallocate(fd, Swift.max(last.fileBytes, segmentBytes), path: path)
                    try POSIXFile.fsync(fd, path: path)
                    onRepair(repair)
                } else if last.fileBytes < segmentBytes {
                    // A segment cut short at a record boundary (or copied without its tail): give
                    // it back its preallocation so appends do not change the file size.
                    try POSIXFile.preallocate(fd, segmentBytes, path: path)
                    try POSIXFile.fsync(fd, path: path)
                }
            } catch {
                POSIXFile.close(fd)
                throw WALError(error)
            }
            let contentStart = WALFormat.paddedSize(recordLength: 1 + WALFormat.segmentHeaderFixedBytes + metadata.count)
                + WALFormat.recordBytes(payloadBytes: WALFormat.hardStatePayloadBytes(HardState()))
            let lastEntryIndex = reader.entries.last?.index ?? 0
            let lastIndex = Swift.max(lastEntryIndex, reader.entriesFollow?.index ?? 0, reader.lastSnapshot?.index ?? 0)
            let contents = WALContents(
                metadata: metadata, hardState: reader.hardState, lastSnapshot: reader.lastSnapshot,
                entriesFollow: reader.entriesFollow, entries: reader.entries)
            let log = WriteAheadLog(
                directory: directory, options: options, fd: fd,
                segment: lastName, salt: last.header.salt, offset: last.endOffset,
                contentStart: Swift.min(contentStart, last.endOffset), segments: names, metadata: metadata,
                lockFD: lockFD, lastIndex: lastIndex, hardState: reader.hardState)
            return (log, contents)
        } catch {
            POSIXFile.close(lockFD)
            throw error
        }
    }

    /// Every snapshot marker in the log, oldest first, and the last hard state: for choosing a
    /// `.snap` file the WAL knows about (etcd's `ValidSnapshotEntries`). Reads all segments
    /// without taking the lock or repairing anything (a torn tail is ignored); call before
    /// `open`, not while a log is open on the directory.
    public static func readSnapshotMarkers(directory: String) throws(WALError) -> (markers: [WALSnapshotMarker], hardState: HardState) {
        let names = try listSegments(directory)
        var reader = WALReader(directory: directory, fromSnapshot: nil)
        for (i, name) in names.enumerated() {
            _ = try reader.readSegment(name, isLast: i == names.count - 1)
        }
        return (reader.markers, reader.hardState)
    }

    // MARK: writing

    /// Appends `entries` and then `hardState` (if given) to the current segment with one
    /// `pwrite`, cutting a new segment first if they would not fit. Not durable until `sync()`.
    ///
    /// `entries` must have consecutive indexes, the first in `1...lastIndex + 1`; a first index
    /// ≤ `lastIndex` truncates the log there (a follower overwriting a conflicting suffix). An
    /// empty call is a no-op.
    public func append(entries: [Entry], hardState newHardState: HardState? = nil) throws(WALError) {
        try checkUsable()
        if entries.isEmpty && newHardState == nil { return }
        var bytes = 0
        if let first = entries.first {
            precondition(first.index >= 1 && first.index <= lastIndex + 1, "entry \(first.index) leaves a gap after \(lastIndex)")
            var expected = first.index
            for entry in entries {
                precondition(entry.index == expected, "entries are not consecutive at \(entry.index)")
                expected += 1
                bytes += WALFormat.recordBytes(payloadBytes: WALFormat.entryPayloadBytes(entry))
            }
        }
        if let newHardState { bytes += WALFormat.recordBytes(payloadBytes: WALFormat.hardStatePayloadBytes(newHardState)) }
        if offset + bytes > segmentBytes && offset > contentStart { try cut() }

        buffer.reset(salt: salt, fileOffset: offset)
        for entry in entries { buffer.appendEntry(entry) }
        if let newHardState { buffer.appendHardState(newHardState) }
        precondition(buffer.count == bytes, "WAL batch size mismatch")
        try writeBuffer()
        if let last = entries.last { lastIndex = last.index }
        if let newHardState { hardState = newHardState }
    }

    /// Makes everything appended so far durable: one `fdatasync` of the current segment (earlier
    /// segments were synced when cut). Group commit: append a whole batch, then sync once.
    public func sync() throws(WALError) {
        try checkUsable()
        do { try POSIXFile.fdatasync(fd, path: currentPath) } catch { throw fail(error) }
    }

    /// Records that a snapshot at (`index`, `term`) was saved, and syncs. Save the `.snap` file
    /// first (`SnapshotStore.save`), so a marker never points at a missing snapshot. An index
    /// beyond `lastIndex` (a snapshot received from the leader) moves `lastIndex` there: the next
    /// entry is `index + 1`.
    public func saveSnapshotMarker(index: UInt64, term: UInt64) throws(WALError) {
        try checkUsable()
        let bytes = WALFormat.recordBytes(payloadBytes: WALFormat.snapshotMarkerBytes)
        if offset + bytes > segmentBytes && offset > contentStart { try cut() }
        buffer.reset(salt: salt, fileOffset: offset)
        buffer.appendSnapshotMarker(WALSnapshotMarker(index: index, term: term))
        try writeBuffer()
        lastIndex = Swift.max(lastIndex, index)
        try sync()
    }

    /// Deletes old segments no longer needed to replay from the snapshot at `index`: those before
    /// the newest segment whose first index is ≤ `index` (exactly the segments that
    /// `open(fromSnapshot:)` at that index would skip), oldest first, while more than
    /// `maxSegmentsKept` segment files exist (etcd's `--max-wals` purge; 0 deletes all it may).
    /// The current segment is never deleted. Returns the deleted file names.
    ///
    /// Only pass an index whose snapshot is saved (`.snap` + marker) and whose state is durable
    /// in LMDB (`LMDBEnvironment.sync()` after applying it): LMDB commits without fsync.
    @discardableResult
    public func releaseSegments(before index: UInt64, maxSegmentsKept: Int = defaultMaxSegmentsKept) throws(WALError) -> [String] {
        try checkUsable()
        precondition(maxSegmentsKept >= 0, "negative maxSegmentsKept")
        guard let keepFrom = segments.lastIndex(where: { $0.firstIndex <= index }) else { return [] }
        let count = Swift.min(keepFrom, Swift.max(0, segments.count - maxSegmentsKept))
        guard count > 0 else { return [] }
        var deleted: [String] = []
        do {
            for name in segments[0..<count] {
                try POSIXFile.unlink("\(directory)/\(name.fileName)")
                deleted.append(name.fileName)
            }
            segments.removeFirst(count)
            try POSIXFile.syncDirectory(directory)
        } catch {
            segments.removeFirst(deleted.count)
            throw WALError(error)
        }
        return deleted
    }

    /// Syncs (unless the log has failed), closes the files, deletes the preallocated spare and
    /// releases the lock. Idempotent. The log is unusable afterwards.
    public func close() throws(WALError) {
        if isClosed { return }
        defer { release() }
        if failure == nil {
            do { try POSIXFile.fdatasync(fd, path: currentPath) } catch { throw WALError(error) }
        }
    }

    // MARK: internals

    private var currentPath: String { "\(directory)/\(segment.fileName)" }

    private func checkUsable() throws(WALError) {
        if isClosed { throw .closed }
        if let failure { throw .failed(failure) }
    }

    /// Marks the log failed with `error` and returns the error to throw.
    private func fail(_ error: SystemCallError) -> WALError {
        let walError = WALError(error)
        failure = walError
        return walError
    }

    private func writeBuffer() throws(WALError) {
        do { try POSIXFile.pwriteAll(fd, buffer.bytes, offset: offset, path: currentPath) } catch { throw fail(error) }
        offset += buffer.count
    }

    /// Seals the current segment (fdatasync) and starts the next one, named with the next
    /// sequence number and `lastIndex + 1`, holding the header and the current hard state.
    /// Crash-safe at every step: the new file only gets its name once its header is durable, and
    /// the directory is synced before any entry is written into it.
    private func cut() throws(WALError) {
        do { try POSIXFile.fdatasync(fd, path: currentPath) } catch { throw fail(error) }
        let next = WALSegmentName(sequence: segment.sequence + 1, firstIndex: lastIndex + 1)
        let newSalt = Self.newSalt()
        buffer.reset(salt: newSalt, fileOffset: 0)
        buffer.appendSegmentHeader(next, salt: newSalt, metadata: metadata)
        buffer.appendHardState(hardState)
        var prepared: WALSegmentPreparer.Prepared?
        do { prepared = try preparer?.take() } catch { throw fail(error) }
        let newFD: Int32
        do {
            newFD = try Self.writeNewSegment(directory: directory, name: next, records: buffer.bytes, options: options, fd: prepared)
        } catch {
            failure = error
            throw error
        }
        POSIXFile.close(fd)
        fd = newFD
        segment = next
        salt = newSalt
        offset = buffer.count
        contentStart = buffer.count
        segments.append(next)
        preparer?.prepareNext()
    }

    /// Writes `records` at the start of a new segment file (the prepared spare if given, else a
    /// new preallocated temporary file), fsyncs it, renames it to its name and syncs the
    /// directory. Returns the open descriptor.
    private static func writeNewSegment(
        directory: String, name: WALSegmentName, records: UnsafeRawBufferPointer, options: WALOptions,
        fd prepared: WALSegmentPreparer.Prepared?
    ) throws(WALError) -> Int32 {
        var file = prepared
        do {
            if file == nil {
                let path = "\(directory)/\(name.fileName)\(WALFormat.temporarySuffix)"
                try POSIXFile.unlink(path)
                let fd = try POSIXFile.open(path, O_RDWR | O_CREAT | O_EXCL)
                file = WALSegmentPreparer.Prepared(path: path, fd: fd)
                try WALSegmentPreparer.preallocate(fd, path: path, options: options)
            }
            let temporary = file!
            try POSIXFile.pwriteAll(temporary.fd, records, offset: 0, path: temporary.path)
            try POSIXFile.fsync(temporary.fd, path: temporary.path)
            try POSIXFile.rename(temporary.path, "\(directory)/\(name.fileName)")
            try POSIXFile.syncDirectory(directory)
            return temporary.fd
        } catch {
            if let file {
                POSIXFile.close(file.fd)
                try? POSIXFile.unlink(file.path)
            }
            throw WALError(error)
        }
    }

    private func release() {
        isClosed = true
        preparer?.discard()
        POSIXFile.close(fd)
        POSIXFile.close(lockFD)  // closing the descriptor drops the flock
    }

    private static func newSalt() -> UInt64 {
        var salt: UInt64 = 0
        while salt == 0 { salt = UInt64.random(in: .min ... .max) }
        return salt
    }

    /// How long `acquireLock` keeps retrying a held lock before reporting `.locked`.
    static let lockWaitMilliseconds = 250

    /// Takes `wal/lock` with `flock(LOCK_EX | LOCK_NB)`. A flock belongs to the open file
    /// description, so a child that another thread of this process is spawning holds a copy of
    /// our descriptor until its `exec` closes it (`O_CLOEXEC`): a lock just released can look held
    /// for a moment. Retrying for `lockWaitMilliseconds` rides that out; a lock held by another
    /// live process is still reported as `.locked`.
    private static func acquireLock(_ directory: String) throws(WALError) -> Int32 {
        let path = "\(directory)/\(WALFormat.lockFileName)"
        let fd: Int32
        do { fd = try POSIXFile.open(path, O_RDWR | O_CREAT) } catch { throw WALError(error) }
        var waitedMilliseconds = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && waitedMilliseconds < lockWaitMilliseconds {
                usleep(1000)
                waitedMilliseconds += 1
                continue
            }
            POSIXFile.close(fd)
            if code == EWOULDBLOCK { throw .locked(path: path) }
            throw .io(errno: code, operation: "flock", path: path)
        }
        return fd
    }

    /// Segment names in `directory`, by sequence; checks the sequence has no gaps.
    private static func listSegments(_ directory: String) throws(WALError) -> [WALSegmentName] {
        let files: [String]
        do { files = try POSIXFile.listDirectory(directory) } catch { throw WALError(error) }
        let names = files.compactMap(WALSegmentName.init(fileName:)).sorted()
        guard let first = names.first else { throw .notFound(directory: directory) }
        for (i, name) in names.enumerated() where name.sequence != first.sequence + UInt64(i) {
            throw .corrupt(segment: name.fileName, offset: 0, reason: "segment sequence gap: expected \(first.sequence + UInt64(i))")
        }
        for (a, b) in zip(names, names.dropFirst()) where b.firstIndex < a.firstIndex {
            throw .corrupt(segment: b.fileName, offset: 0, reason: "first index \(b.firstIndex) below the previous segment's \(a.firstIndex)")
        }
        return names
    }

    private static func removeTemporaryFiles(_ directory: String) throws(WALError) {
        do {
            for file in try POSIXFile.listDirectory(directory) where file.hasSuffix(WALFormat.temporarySuffix) {
                try POSIXFile.unlink("\(directory)/\(file)")
            }
        } catch {
            throw WALError(error)
        }
    }

    /// The newest segment whose first index is ≤ the snapshot's index (0 without a snapshot).
    private static func firstSegmentToRead(_ names: [WALSegmentName], fromSnapshot: WALSnapshotMarker?) throws(WALError) -> Int {
        guard let snapshot = fromSnapshot, snapshot.index > 0 else { return 0 }
        guard let i = names.lastIndex(where: { $0.firstIndex <= snapshot.index }) else {
            throw .snapshotNotFound(index: snapshot.index, term: snapshot.term)
        }
        return i
    }
}
