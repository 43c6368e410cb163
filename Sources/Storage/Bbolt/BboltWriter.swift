import Foundation

/// Writes a bbolt database (the file format of etcd's backend and of `etcdctl snapshot save`) in
/// one pass over sorted data: each bucket's B+tree is bulk-loaded leaf by leaf into a temporary
/// file, its branch levels after its leaves, then the root bucket's page, an empty freelist and
/// the two meta pages. Memory holds one page and one branch level's (first key, page) pairs per
/// bucket, never the data.
///
/// The layout (bbolt 1.3, little-endian, as on every platform etcd runs on): page 0 and 1 are
/// meta pages (magic, version 2, page size, root bucket, freelist page, high-water page, txid,
/// FNV-1a checksum); page 2 is the freelist (empty: every page is in use); then the buckets'
/// pages. A node larger than a page (one big value) spans `1 + overflow` contiguous pages.
/// Every page below the high-water mark is reachable, so bbolt's `tx.Check` (which
/// `etcdutl snapshot status` runs) finds nothing to report.
///
/// Not thread-safe: one writer per file.
public final class BboltWriter {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static let magic: UInt32 = 0xED0C_DAED
    static let version: UInt32 = 2
    static let pageHeaderBytes = 16
    static let elementBytes = 16
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    static let metaFlag: UInt16 = 0x04
    static let freelistFlag: UInt16 = 0x10
    static let bucketLeafFlag: UInt32 = 0x01
    /// bbolt's limits on keys and values (`MaxKeySize`, `MaxValueSize`).
    public static let keyBytesMax = 32768
    public static let valueBytesMax = (1 << 31) - 2

    public let pageSize: Int
    private let handle: FileHandle
    private var nextPage: UInt64 = 3
    private var buckets: [(name: [UInt8], root: UInt64)] = []
    private var finished = false

    /// Creates (truncating) `path`. `pageSize` must be a power of two of at least 1024.
    public init(path: String, pageSize: Int = 4096) throws {
        precondition(pageSize >= 1024 && pageSize & (pageSize - 1) == 0, "bbolt page size must be a power of two")
        self.pageSize = pageSize
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw Failure(description: "cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    deinit { try? handle.close() }

    /// The bucket being written (`beginBucket` … `endBucket`).
    private struct OpenBucket {
        var name: [UInt8]
        var level: [(firstKey: [UInt8], page: UInt64)] = []
        var node: NodeBuilder
        var previous: [UInt8]?
    }

    private var open: OpenBucket?

    /// One bucket's pairs, keys strictly ascending (bytewise), as bbolt keeps them.
    public func addBucket<S: Sequence>(_ name: [UInt8], _ pairs: S) throws where S.Element == (key: [UInt8], value: [UInt8]) {
        try beginBucket(name)
        for (key, value) in pairs { try append(key: key, value: value) }
        try endBucket()
    }

    /// Starts a bucket whose pairs come one by one (`append`), streamed from a cursor.
    public func beginBucket(_ name: [UInt8]) throws {
        precondition(!finished && open == nil, "bucket begun after finish or inside another")
        guard !name.isEmpty, name.count <= Self.keyBytesMax else { throw Failure(description: "invalid bucket name") }
        guard !buckets.contains(where: { $0.name == name }) else { throw Failure(description: "bucket \(String(decoding: name, as: UTF8.self)) added twice") }
        open = OpenBucket(name: name, node: NodeBuilder(pageSize: pageSize, isLeaf: true))
    }

    /// The next pair of the open bucket (keys strictly ascending).
    public func append(key: [UInt8], value: [UInt8]) throws {
        // Taken out while it changes, so its arrays stay uniquely referenced (no copy per pair).
        guard var b = open.take() else { preconditionFailure("append outside a bucket") }
        defer { open = b }
        guard !key.isEmpty, key.count <= Self.keyBytesMax, value.count <= Self.valueBytesMax else {
            throw Failure(description: "a key or value out of bbolt's bounds")
        }
        if let previous = b.previous, !Self.less(previous, key) { throw Failure(description: "keys not in ascending order") }
        b.previous = key
        if !b.node.isEmpty && !b.node.fits(key: key, value: value) {
            b.level.append((b.node.firstKey!, try write(b.node)))
            b.node = NodeBuilder(pageSize: pageSize, isLeaf: true)
        }
        b.node.append(key: key, value: value, flags: 0)
    }

    public func endBucket() throws {
        guard var b = open else { preconditionFailure("endBucket without beginBucket") }
        open = nil
        // An empty bucket is an empty leaf.
        b.level.append((b.node.firstKey ?? [], try write(b.node)))
        buckets.append((b.name, try branches(above: b.level)))
    }

    /// Writes the root bucket, the freelist and the meta pages, and syncs the file.
    public func finish() throws {
        precondition(!finished && open == nil, "finish called twice or inside a bucket")
        finished = true
        var level: [(firstKey: [UInt8], page: UInt64)] = []
        var node = NodeBuilder(pageSize: pageSize, isLeaf: true)
        for (name, root) in buckets.sorted(by: { Self.less($0.name, $1.name) }) {
            var header = [UInt8]()
            Self.put(&header, root)
            Self.put(&header, UInt64(0))  // sequence
            if !node.isEmpty && !node.fits(key: name, value: header) {
                level.append((node.firstKey!, try write(node)))
                node = NodeBuilder(pageSize: pageSize, isLeaf: true)
            }
            node.append(key: name, value: header, flags: Self.bucketLeafFlag)
        }
        level.append((node.firstKey ?? [], try write(node)))
        let root = try branches(above: level)
        try writePage(at: 2, Self.page(id: 2, flags: Self.freelistFlag, count: 0, overflow: 0, pageSize: pageSize))
        for id in UInt64(0)...1 {
            try writePage(at: id, meta(id: id, root: root, txid: id + 1))
        }
        try handle.synchronize()
        try handle.close()
    }

    /// Branch levels above `level` until one node remains; its page is the tree's root.
    private func branches(above first: [(firstKey: [UInt8], page: UInt64)]) throws -> UInt64 {
        var level = first
        while level.count > 1 {
            var next: [(firstKey: [UInt8], page: UInt64)] = []
            var node = NodeBuilder(pageSize: pageSize, isLeaf: false)
            for (key, page) in level {
                if !node.isEmpty && !node.fits(key: key, value: []) {
                    next.append((node.firstKey!, try write(node)))
                    node = NodeBuilder(pageSize: pageSize, isLeaf: false)
                }
                node.appendBranch(key: key, page: page)
            }
            next.append((node.firstKey!, try write(node)))
            level = next
        }
        return level[0].page
    }

    /// Writes `node` at the next free page(s); returns its page ID.
    private func write(_ node: NodeBuilder) throws -> UInt64 {
        let id = nextPage
        let bytes = node.serialize(id: id)
        nextPage += UInt64(bytes.count / pageSize)
        try writePage(at: id, bytes)
        return id
    }

    private func writePage(at id: UInt64, _ bytes: [UInt8]) throws {
        try handle.seek(toOffset: id * UInt64(pageSize))
        try handle.write(contentsOf: Data(bytes))
    }

    private func meta(id: UInt64, root: UInt64, txid: UInt64) -> [UInt8] {
        var body = [UInt8]()
        Self.put(&body, Self.magic)
        Self.put(&body, Self.version)
        Self.put(&body, UInt32(pageSize))
        Self.put(&body, UInt32(0))  // flags
        Self.put(&body, root)
        Self.put(&body, UInt64(0))  // root bucket sequence
        Self.put(&body, UInt64(2))  // freelist page
        Self.put(&body, nextPage)   // high-water mark
        Self.put(&body, txid)
        Self.put(&body, Self.fnv64a(body))
        var page = Self.page(id: id, flags: Self.metaFlag, count: 0, overflow: 0, pageSize: pageSize)
        page.replaceSubrange(Self.pageHeaderBytes..<(Self.pageHeaderBytes + body.count), with: body)
        return page
    }

    // MARK: encoding

    static func page(id: UInt64, flags: UInt16, count: UInt16, overflow: UInt32, pageSize: Int) -> [UInt8] {
        var header = [UInt8]()
        put(&header, id)
        put(&header, flags)
        put(&header, count)
        put(&header, overflow)
        header.append(contentsOf: [UInt8](repeating: 0, count: pageSize * Int(overflow + 1) - header.count))
        return header
    }

    static func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func fnv64a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// bytes.Compare(a, b) < 0.
    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }
}

/// One node (leaf or branch) being filled: its elements' headers and data, laid out as bbolt
/// lays them (all element headers first, then each element's key and value).
struct NodeBuilder {
    let pageSize: Int
    let isLeaf: Bool
    private(set) var firstKey: [UInt8]?
    private var elements: [(flags: UInt32, key: [UInt8], value: [UInt8], page: UInt64)] = []
    private var dataBytes = 0

    init(pageSize: Int, isLeaf: Bool) {
        self.pageSize = pageSize
        self.isLeaf = isLeaf
    }

    var isEmpty: Bool { elements.isEmpty }

    /// Whether one more element keeps the node within one page (bbolt splits at a page).
    func fits(key: [UInt8], value: [UInt8]) -> Bool {
        let size = BboltWriter.pageHeaderBytes + (elements.count + 1) * BboltWriter.elementBytes + dataBytes + key.count + value.count
        return size <= pageSize && elements.count < Int(UInt16.max)
    }

    mutating func append(key: [UInt8], value: [UInt8], flags: UInt32) {
        precondition(isLeaf, "a key and value in a branch node")
        if firstKey == nil { firstKey = key }
        elements.append((flags, key, value, 0))
        dataBytes += key.count + value.count
    }

    mutating func appendBranch(key: [UInt8], page: UInt64) {
        precondition(!isLeaf, "a child page in a leaf node")
        if firstKey == nil { firstKey = key }
        elements.append((0, key, [], page))
        dataBytes += key.count
    }

    /// The node's page(s): a page header, the element headers, then keys and values.
    func serialize(id: UInt64) -> [UInt8] {
        let used = BboltWriter.pageHeaderBytes + elements.count * BboltWriter.elementBytes + dataBytes
        let pages = max(1, (used + pageSize - 1) / pageSize)
        var out = BboltWriter.page(id: id, flags: isLeaf ? BboltWriter.leafFlag : BboltWriter.branchFlag,
                                   count: UInt16(elements.count), overflow: UInt32(pages - 1), pageSize: pageSize)
        var header = [UInt8]()
        var data = [UInt8]()
        header.reserveCapacity(elements.count * BboltWriter.elementBytes)
        data.reserveCapacity(dataBytes)
        let dataStart = BboltWriter.pageHeaderBytes + elements.count * BboltWriter.elementBytes
        for (i, e) in elements.enumerated() {
            let elementOffset = BboltWriter.pageHeaderBytes + i * BboltWriter.elementBytes
            let pos = UInt32(dataStart + data.count - elementOffset)
            if isLeaf {
                BboltWriter.put(&header, e.flags)
                BboltWriter.put(&header, pos)
                BboltWriter.put(&header, UInt32(e.key.count))
                BboltWriter.put(&header, UInt32(e.value.count))
            } else {
                BboltWriter.put(&header, pos)
                BboltWriter.put(&header, UInt32(e.key.count))
                BboltWriter.put(&header, e.page)
            }
            data.append(contentsOf: e.key)
            data.append(contentsOf: e.value)
        }
        out.replaceSubrange(BboltWriter.pageHeaderBytes..<(BboltWriter.pageHeaderBytes + header.count), with: header)
        out.replaceSubrange(dataStart..<(dataStart + data.count), with: data)
        return out
    }
}
