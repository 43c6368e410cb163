#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: `errno`, the call, and the path it was about.
struct SystemCallError: Error, Equatable {
    var code: Int32
    var operation: String
    var path: String

    init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.code = code
        self.operation = operation
        self.path = path
    }
}

/// Thin wrappers over the POSIX calls Storage's file code uses: each retries `EINTR`, loops on
/// short reads and writes, and reports failure as `SystemCallError`. Any thread; no state.
enum POSIXFile {
    static let directoryMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    static func open(_ path: String, _ flags: Int32, mode: mode_t = fileMode) throws(SystemCallError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemCallError("open", path) }
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)  // Linux closes the descriptor even when close reports an error
    }

    /// Writes all of `buffer` at `offset`.
    static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, offset: Int, path: String) throws(SystemCallError) {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("pwrite", path)
            }
            precondition(n > 0, "pwrite returned 0 for a non-empty buffer")
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file. Returns the count.
    static func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: Int, path: String) throws(SystemCallError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("pread", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func fdatasync(_ fd: Int32, path: String) throws(SystemCallError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw SystemCallError("fdatasync", path) }
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(SystemCallError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw SystemCallError("fsync", path) }
        }
    }

    static func ftruncate(_ fd: Int32, _ length: Int, path: String) throws(SystemCallError) {
        while Glibc.ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw SystemCallError("ftruncate", path) }
        }
    }

    /// Allocates blocks for `[0, length)` so later writes need no block allocation and cannot fail
    /// with ENOSPC; the file's size becomes at least `length` and unwritten bytes read as zeros.
    /// glibc's `posix_fallocate` is `fallocate(mode 0)` (ext4, xfs: unwritten extents, instant),
    /// falling back to writing zeros on file systems without it.
    static func preallocate(_ fd: Int32, _ length: Int, path: String) throws(SystemCallError) {
        while true {
            let rc = posix_fallocate(fd, 0, off_t(length))  // returns the error, does not set errno
            if rc == 0 { return }
            if rc != EINTR { throw SystemCallError("posix_fallocate", path, code: rc) }
        }
    }

    static func fileSize(_ fd: Int32, path: String) throws(SystemCallError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemCallError("fstat", path) }
        return Int(st.st_size)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and missing parents (mode 0700, as etcd's data dirs). Syncs each parent
    /// whose entry list changed.
    static func makeDirectories(_ path: String) throws(SystemCallError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path { try makeDirectories(parent) }
        if mkdir(path, directoryMode) != 0 && errno != EEXIST { throw SystemCallError("mkdir", path) }
        try syncDirectory(parent)
    }

    /// Names in `path` (without "." and ".."), unsorted.
    static func listDirectory(_ path: String) throws(SystemCallError) -> [String] {
        guard let dir = opendir(path) else { throw SystemCallError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func rename(_ from: String, _ to: String) throws(SystemCallError) {
        guard Glibc.rename(from, to) == 0 else { throw SystemCallError("rename", "\(from) -> \(to)") }
    }

    static func unlink(_ path: String) throws(SystemCallError) {
        guard Glibc.unlink(path) == 0 || errno == ENOENT else { throw SystemCallError("unlink", path) }
    }

    /// fsyncs a directory, making creations, renames and deletions of its entries durable.
    static func syncDirectory(_ path: String) throws(SystemCallError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    static func syncDirectory(containing file: String) throws(SystemCallError) {
        try syncDirectory(parentDirectory(of: file))
    }

    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }
}
