import Foundation

/// Reads a bbolt database (etcd's `member/snap/db`, or a file `etcdctl snapshot save` wrote):
/// the top-level buckets and, for each, its pairs in key order. Read-only and bounds-checked:
/// a truncated or corrupt file throws `Failure` (it never traps), naming the page.
///
/// What it understands (bbolt 1.3): the two meta pages (the valid one with the higher txid
/// wins), branch and leaf pages with overflow, inline buckets (a small bucket's page stored in
/// its parent's value). Nested buckets below the top level are reported, not descended into
/// (etcd has none). The whole file is mapped, not read.
public final class BboltReader {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let pageSize: Int
    /// The meta page's high-water mark and transaction ID.
    public let pageCount: UInt64
    public let txid: UInt64
    private let data: Data
    private let rootPage: UInt64

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw Failure(description: "cannot read \(path): \(error.localizedDescription)")
        }
        self.data = data
        // Page size from the first meta; the second may be the valid one.
        var best: (root: UInt64, pageCount: UInt64, txid: UInt64, pageSize: Int)?
        for candidateSize in [Self.u32(data, 24).map(Int.init) ?? 4096, 4096, 8192, 16384, 65536] {
            for page in 0..<2 {
                guard let meta = Self.meta(data, at: page * candidateSize) else { continue }
                guard meta.pageSize == candidateSize || page == 0 else { continue }
                if best == nil || meta.txid > best!.txid {
                    best = (meta.root, meta.pageCount, meta.txid, meta.pageSize)
                }
            }
            if best != nil { break }
        }
        guard let best else { throw Failure(description: "\(path): not a bbolt database (no valid meta page)") }
        pageSize = best.pageSize
        pageCount = best.pageCount
        txid = best.txid
        rootPage = best.root
        guard UInt64(data.count) >= pageCount * UInt64(pageSize) else {
            throw Failure(description: "\(path): truncated (\(data.count) bytes, the meta page says \(pageCount) pages of \(pageSize))")
        }
    }

    /// The meta page at `offset`, if its magic, version and checksum hold.
    private static func meta(_ data: Data, at offset: Int) -> (root: UInt64, pageCount: UInt64, txid: UInt64, pageSize: Int)? {
        let m = offset + 16
        guard let magic = u32(data, m), magic == 0xED0C_DAED, u32(data, m + 4) == 2,
            let size = u32(data, m + 8), size >= 1024, size & (size - 1) == 0,
            let root = u64(data, m + 16), let pageCount = u64(data, m + 40), let txid = u64(data, m + 48),
            let checksum = u64(data, m + 56)
        else { return nil }
        let bytes = [UInt8](data[data.startIndex + m..<data.startIndex + m + 56])
        guard BboltWriter.fnv64a(bytes) == checksum else { return nil }
        return (root, pageCount, txid, Int(size))
    }

    /// The top-level bucket names, in order.
    public func bucketNames() throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        try walk(.page(rootPage)) { flags, key, _ in
            if flags & BboltWriter.bucketLeafFlag != 0 { names.append(key) }
        }
        return names
    }

    /// Calls `body` with each pair of the top-level bucket `name` in key order; false if there is
    /// no such bucket. Nested buckets inside it are skipped.
    @discardableResult
    public func forEach(bucket name: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Void) throws -> Bool {
        var header: [UInt8]?
        try walk(.page(rootPage)) { flags, key, value in
            if key == name && flags & BboltWriter.bucketLeafFlag != 0 { header = value }
        }
        guard let header else { return false }
        guard header.count >= 16 else { throw Failure(description: "bucket \(String(decoding: name, as: UTF8.self)): short header") }
        let root = header.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        let location: Location = root == 0 ? .inline(Array(header[16...])) : .page(root)
        try walk(location) { flags, key, value in
            if flags & BboltWriter.bucketLeafFlag == 0 { try body(key, value) }
        }
        return true
    }

    private enum Location {
        case page(UInt64)
        case inline([UInt8])
    }

    /// Depth-first over a tree, leaves' elements in order.
    private func walk(_ location: Location, depth: Int = 0, _ visit: (UInt32, [UInt8], [UInt8]) throws -> Void) throws {
        guard depth < 64 else { throw Failure(description: "bbolt tree deeper than 64 levels (a cycle?)") }
        switch location {
        case .inline(let bytes):
            try bytes.withUnsafeBytes { raw in
                try walkPage(raw, id: 0, depth: depth, visit)
            }
        case .page(let id):
            guard id >= 2, id < pageCount else { throw Failure(description: "page \(id) out of the file's \(pageCount) pages") }
            let start = Int(id) * pageSize
            guard let overflow = Self.u32(data, start + 12) else { throw Failure(description: "page \(id): truncated header") }
            let end = start + pageSize * (Int(overflow) + 1)
            guard end <= data.count, UInt64(id) + UInt64(overflow) < pageCount else {
                throw Failure(description: "page \(id): \(overflow) overflow pages run past the file")
            }
            try data[data.startIndex + start..<data.startIndex + end].withUnsafeBytes { raw in
                try walkPage(raw, id: id, depth: depth, visit)
            }
        }
    }

    private func walkPage(_ page: UnsafeRawBufferPointer, id: UInt64, depth: Int, _ visit: (UInt32, [UInt8], [UInt8]) throws -> Void) throws {
        guard page.count >= 16 else { throw Failure(description: "page \(id): shorter than its header") }
        let flags = page.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian
        let count = Int(page.loadUnaligned(fromByteOffset: 10, as: UInt16.self).littleEndian)
        guard 16 + count * 16 <= page.count else { throw Failure(description: "page \(id): \(count) elements do not fit") }
        func slice(_ from: Int, _ length: Int) throws -> [UInt8] {
            guard from >= 0, length >= 0, from + length <= page.count else {
                throw Failure(description: "page \(id): an element points outside the page")
            }
            return [UInt8](page[from..<from + length])
        }
        if flags & BboltWriter.branchFlag != 0 {
            var children: [UInt64] = []
            for i in 0..<count {
                let e = 16 + i * 16
                children.append(page.loadUnaligned(fromByteOffset: e + 8, as: UInt64.self).littleEndian)
            }
            for child in children { try walk(.page(child), depth: depth + 1, visit) }
        } else if flags & BboltWriter.leafFlag != 0 {
            for i in 0..<count {
                let e = 16 + i * 16
                let elementFlags = page.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
                let pos = Int(page.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian)
                let ksize = Int(page.loadUnaligned(fromByteOffset: e + 8, as: UInt32.self).littleEndian)
                let vsize = Int(page.loadUnaligned(fromByteOffset: e + 12, as: UInt32.self).littleEndian)
                let key = try slice(e + pos, ksize)
                let value = try slice(e + pos + ksize, vsize)
                try visit(elementFlags, key, value)
            }
        } else {
            throw Failure(description: "page \(id): neither a branch nor a leaf (flags \(flags))")
        }
    }

    static func u32(_ data: Data, _ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= data.count else { return nil }
        return data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }.littleEndian
    }

    static func u64(_ data: Data, _ offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= data.count else { return nil }
        return data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }.littleEndian
    }
}
