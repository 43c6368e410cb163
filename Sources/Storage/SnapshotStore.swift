import EtcdProto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a snapshot file operation failed.
public enum SnapshotStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`errno`), other than ENOSPC.
    case io(errno: Int32, operation: String, path: String)
    /// ENOSPC / EDQUOT while writing.
    case noSpace(path: String)

    public var description: String {
        switch self {
        case .io(let code, let op, let path): "snapshot I/O error: \(op) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .noSpace(let path): "snapshot: no space left on device writing \(path)"
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

/// Raft snapshot files in `<data-dir>/member/snap/`, in etcd's own format, so etcd and swetcd
/// read each other's.
///
/// ## Format
/// A file `%016x-%016x.snap` (term, index of the snapshot, lower-case hex) holds one protobuf
/// message `snappb.Snapshot { uint32 crc = 1; bytes data = 2; }` where `data` is the encoded
/// `raftpb.Snapshot` and `crc` is CRC-32C (Castagnoli) of `data` — byte for byte what etcd's
/// `snap.Snapshotter` writes. A file that is empty, does not decode, has crc 0 or empty data, has
/// a CRC mismatch, or whose metadata disagrees with its name is *broken*.
///
/// ## Atomicity
/// `save` writes `<name>.tmp`, fsyncs it, renames it to `<name>` and fsyncs the directory: after a
/// crash the file either exists whole or not at all (a leftover `.tmp` is deleted by `init`).
///
/// ## Threads
/// Immutable; the methods touch only the files named after the snapshots they are given, so
/// `save` may run on a snapshot thread while the raft thread loads nothing. In practice: the raft
/// thread saves (before `WriteAheadLog.saveSnapshotMarker`), start-up loads, either prunes.
/// Other files in the directory (`db`, `db-lock`) are left alone.
public struct SnapshotStore: Sendable {
    public let directory: String
    /// etcd's `--max-snapshots` default.
    public static let defaultMaxSnapshotsKept = 5
    static let suffix = ".snap"
    static let brokenSuffix = ".broken"
    static let temporarySuffix = ".tmp"

    /// Uses `directory` (created with parents, mode 0700, if missing) and deletes leftover
    /// `*.snap.tmp` files from an interrupted `save`.
    public init(directory: String) throws(SnapshotStoreError) {
        self.directory = directory
        do {
            try POSIXFile.makeDirectories(directory)
            for file in try POSIXFile.listDirectory(directory) where file.hasSuffix(Self.suffix + Self.temporarySuffix) {
                try POSIXFile.unlink("\(directory)/\(file)")
            }
        } catch {
            throw SnapshotStoreError(error)
        }
    }

    /// The file name of the snapshot at (`term`, `index`).
    public static func fileName(term: UInt64, index: UInt64) -> String {
        WALSegmentName.hex16(term) + "-" + WALSegmentName.hex16(index) + suffix
    }

    /// Saves `snapshot` durably and atomically (see the type's notes). An empty snapshot (index 0)
    /// is not saved, as etcd does. Saving the same (term, index) again replaces the file.
    public func save(_ snapshot: Snapshot) throws(SnapshotStoreError) {
        if snapshot.isEmpty { return }
        let data = snapshot.serializedBytes()
        var writer = ProtoWriter(capacity: data.count + 16)
        writer.writeUInt64Always(1, UInt64(CRC32C.checksum(data)))
        writer.writeBytesAlways(2, data)
        let name = Self.fileName(term: snapshot.metadata.term, index: snapshot.metadata.index)
        let finalPath = "\(directory)/\(name)"
        let temporaryPath = finalPath + Self.temporarySuffix
        do throws(SystemCallError) {
            try POSIXFile.unlink(temporaryPath)
            let fd = try POSIXFile.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL)
            do throws(SystemCallError) {
                try writer.bytes.withUnsafeBytes { raw in
                    Result { () throws(SystemCallError) in try POSIXFile.pwriteAll(fd, raw, offset: 0, path: temporaryPath) }
                }.get()
                try POSIXFile.fsync(fd, path: temporaryPath)
            } catch {
                POSIXFile.close(fd)
                try? POSIXFile.unlink(temporaryPath)
                throw error
            }
            POSIXFile.close(fd)
            try POSIXFile.rename(temporaryPath, finalPath)
            try POSIXFile.syncDirectory(directory)
        } catch {
            throw SnapshotStoreError(error)
        }
    }

    /// The newest valid snapshot for which `isWanted(term, index)` holds (e.g. "is a marker in the
    /// WAL", etcd's `LoadNewestAvailable`), or nil. Newest means greatest (term, index). Broken
    /// files are renamed `<name>.broken` (as etcd does), reported to `onBroken` with the reason,
    /// and skipped.
    public func loadNewest(
        where isWanted: (WALSnapshotMarker) -> Bool = { _ in true },
        onBroken: (_ fileName: String, _ reason: String) -> Void = { _, _ in }
    ) throws(SnapshotStoreError) -> Snapshot? {
        for name in try snapshotNames() {
            guard isWanted(WALSnapshotMarker(index: name.index, term: name.term)) else { continue }
            switch try read(name) {
            case .success(let snapshot):
                return snapshot
            case .failure(let broken):
                let path = "\(directory)/\(name.fileName)"
                try? POSIXFile.rename(path, path + Self.brokenSuffix)
                onBroken(name.fileName, broken.reason)
            }
        }
        return nil
    }

    /// The (term, index) of every `.snap` file, newest first (by name; contents not checked).
    public func list() throws(SnapshotStoreError) -> [WALSnapshotMarker] {
        try snapshotNames().map { WALSnapshotMarker(index: $0.index, term: $0.term) }
    }

    /// Deletes all but the newest `maxSnapshotsKept` `.snap` files (etcd's `--max-snapshots`
    /// purge). Returns the deleted file names.
    @discardableResult
    public func prune(maxSnapshotsKept: Int = defaultMaxSnapshotsKept) throws(SnapshotStoreError) -> [String] {
        precondition(maxSnapshotsKept >= 0, "negative maxSnapshotsKept")
        let doomed = try snapshotNames().dropFirst(maxSnapshotsKept).map(\.fileName)
        guard !doomed.isEmpty else { return [] }
        do {
            for file in doomed { try POSIXFile.unlink("\(directory)/\(file)") }
            try POSIXFile.syncDirectory(directory)
        } catch {
            throw SnapshotStoreError(error)
        }
        return doomed
    }

    // MARK: internals

    struct Name {
        var term: UInt64
        var index: UInt64
        var fileName: String
    }

    struct Broken: Error {
        var reason: String
    }

    /// `.snap` files by (term, index), newest first.
    private func snapshotNames() throws(SnapshotStoreError) -> [Name] {
        let files: [String]
        do { files = try POSIXFile.listDirectory(directory) } catch { throw SnapshotStoreError(error) }
        return files.compactMap { file -> Name? in
            guard file.hasSuffix(Self.suffix), let parsed = WALSegmentName(fileName: String(file.dropLast(Self.suffix.count)) + WALFormat.segmentSuffix)
            else { return nil }
            return Name(term: parsed.sequence, index: parsed.firstIndex, fileName: file)
        }.sorted { ($0.term, $0.index) > ($1.term, $1.index) }
    }

    private func read(_ name: Name) throws(SnapshotStoreError) -> Result<Snapshot, Broken> {
        let path = "\(directory)/\(name.fileName)"
        let bytes: [UInt8]
        do {
            let fd = try POSIXFile.open(path, O_RDONLY)
            defer { POSIXFile.close(fd) }
            let size = try POSIXFile.fileSize(fd, path: path)
            var buffer = [UInt8](repeating: 0, count: size)
            let read = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) in try POSIXFile.preadFully(fd, raw, offset: 0, path: path) }
            }.get()
            bytes = Array(buffer[0..<read])
        } catch {
            throw SnapshotStoreError(error)
        }
        if bytes.isEmpty { return .failure(Broken(reason: "empty file")) }
        var crc: UInt64 = 0
        var data: [UInt8] = []
        do {
            try bytes.withUnsafeBytes { raw in
                Result { () throws(ProtoDecodingError) in
                    var reader = ProtoReader(raw)
                    while let (field, wireType) = try reader.nextTag() {
                        switch field {
                        case 1: crc = try reader.readUInt64(field, wireType)
                        case 2: data = try reader.readBytes(field, wireType)
                        default: try reader.skipField(wireType)
                        }
                    }
                }
            }.get()
        } catch {
            return .failure(Broken(reason: "undecodable snapshot file: \(error)"))
        }
        if data.isEmpty || crc == 0 { return .failure(Broken(reason: "empty snapshot data")) }
        if crc != UInt64(CRC32C.checksum(data)) { return .failure(Broken(reason: "checksum mismatch")) }
        let snapshot: Snapshot
        do { snapshot = try Snapshot(serializedBytes: data) } catch {
            return .failure(Broken(reason: "undecodable raftpb.Snapshot: \(error)"))
        }
        if snapshot.metadata.term != name.term || snapshot.metadata.index != name.index {
            return .failure(Broken(reason: "metadata (term \(snapshot.metadata.term), index \(snapshot.metadata.index)) does not match the file name"))
        }
        return .success(snapshot)
    }
}
