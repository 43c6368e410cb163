import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates and preallocates the next WAL segment on a background queue, so a segment cut (on the
/// raft thread, inside `append`) only writes a header, syncs and renames.
///
/// The prepared file is `<wal-dir>/<n>.tmp`, preallocated to `segmentBytes` (zero-filled too with
/// `zeroFillSegments`) and fsynced; it has
/// no records yet (all zeros). It becomes a segment only by `rename` after its header record is
/// written and synced. `WriteAheadLog.open` deletes leftover `.tmp` files.
///
/// Threads: `prepareNext`, `take` and `discard` are called by the log's owner thread; the work
/// runs on `queue`; `prepared` is touched only on `queue`.
final class WALSegmentPreparer: @unchecked Sendable {
    struct Prepared {
        var path: String
        var fd: Int32
    }

    private let directory: String
    private let options: WALOptions
    private let queue = DispatchQueue(label: "swetcd.wal.preallocate")
    private var prepared: Result<Prepared, SystemCallError>?
    private var counter = 0

    init(directory: String, options: WALOptions) {
        self.directory = directory
        self.options = options
    }

    /// Allocates a new segment's blocks (and writes zeros over them with `zeroFillSegments`).
    static func preallocate(_ fd: Int32, path: String, options: WALOptions) throws(SystemCallError) {
        try POSIXFile.preallocate(fd, options.segmentBytes, path: path)
        guard options.zeroFillSegments else { return }
        let chunkBytes = 1 << 20
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 4096)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        var offset = 0
        while offset < options.segmentBytes {
            let count = Swift.min(chunkBytes, options.segmentBytes - offset)
            try POSIXFile.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: zeros[0..<count]), offset: offset, path: path)
            offset += count
        }
    }

    /// Starts preparing a file in the background (replacing nothing: call after `take`).
    func prepareNext() {
        queue.async {
            precondition(self.prepared == nil, "a prepared segment is already waiting")
            self.prepared = Result { () throws(SystemCallError) -> Prepared in try self.create() }
        }
    }

    /// The prepared file, waiting for the background work if it is still running; prepares one
    /// synchronously if none was requested. The caller owns the returned descriptor.
    func take() throws(SystemCallError) -> Prepared {
        let result: Result<Prepared, SystemCallError>? = queue.sync {
            defer { prepared = nil }
            return prepared
        }
        if let result { return try result.get() }
        return try queue.sync { Result { () throws(SystemCallError) -> Prepared in try create() } }.get()
    }

    /// Closes and deletes a prepared file that will not be used (at close).
    func discard() {
        queue.sync {
            if case .success(let file) = prepared {
                POSIXFile.close(file.fd)
                try? POSIXFile.unlink(file.path)
            }
            prepared = nil
        }
    }

    private func create() throws(SystemCallError) -> Prepared {
        counter += 1
        let path = "\(directory)/\(counter)\(WALFormat.temporarySuffix)"
        try POSIXFile.unlink(path)
        let fd = try POSIXFile.open(path, O_RDWR | O_CREAT | O_EXCL)
        do {
            try Self.preallocate(fd, path: path, options: options)
            try POSIXFile.fsync(fd, path: path)
        } catch {
            POSIXFile.close(fd)
            try? POSIXFile.unlink(path)
            throw error
        }
        return Prepared(path: path, fd: fd)
    }
}
