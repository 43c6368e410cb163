import EtcdProto

/// The on-disk format of the write-ahead log. Everything little-endian.
///
/// ## Files
/// `<data-dir>/member/wal/` holds segment files named `%016x-%016x.wal` (lower-case hex):
/// the segment's sequence number (0, 1, 2, … without gaps) and the Raft index of the first entry
/// expected in it (the log's last index + 1 when it was cut; 0 for the first segment), as etcd
/// names them. Also `lock` (held with `flock` while a log is open) and at most one `*.tmp` file
/// (the next segment, preallocated in the background; deleted at open).
///
/// A segment is preallocated to `segmentBytes` (64 MiB by default) with `posix_fallocate`, so
/// its unwritten tail reads as zeros and appends never change the file size: `fdatasync` then
/// flushes data, not inode metadata. A single batch larger than a segment is written whole into
/// a fresh segment, which then grows past its preallocation.
///
/// ## Records
/// A segment is a sequence of records, each starting at an offset that is a multiple of 8:
///
///     offset  size  field
///     0       4     length L: bytes of type + payload (1 + payload count), L ≥ 1
///     4       4     CRC-32C, see below
///     8       1     record type
///     9       L-1   payload
///     8+L     0…7   zero padding to the next multiple of 8
///
/// so a record occupies `(8 + L + 7) & ~7` bytes. The 8-byte header is aligned, so a torn write
/// never splits a length field across sectors. Eight zero bytes where a header is expected
/// (L = 0) mark the end of the records: the rest of the preallocated file.
///
/// The CRC is CRC-32C over: the segment's salt (u64), the record's offset in the file (u64), the
/// length field (u32), then the L bytes of type + payload. The salt is a random number chosen
/// when the segment is created and stored in its header record (whose own CRC uses salt 0). Salt
/// and offset make a record valid only in its own place: bytes that merely look like a record
/// (a client's value containing WAL bytes, a block written at the wrong offset, a stale file)
/// never pass, which the torn-tail rule below relies on.
///
/// Record types and payloads:
/// - 1 `segmentHeader` — at offset 0 of every segment and nowhere else: magic `"SWETCDWL"`
///   (8 bytes), format version u32 (= 1), reserved u32 (= 0), sequence u64, first index u64,
///   salt u64, then the log's metadata (opaque bytes given at `create`: node and cluster IDs),
///   identical in every segment. Sequence and first index must match the file name.
/// - 2 `entry` — a `raftpb.Entry` in protobuf encoding.
/// - 3 `hardState` — a `raftpb.HardState` in protobuf encoding. The second record of every
///   segment is the hard state current when it was cut, so a reader starting at a later segment
///   still has it.
/// - 4 `snapshotMarker` — index u64, term u64 (16 bytes): a snapshot was saved at that point.
///
/// Unknown types are treated as damage (there is no "skippable" record yet).
///
/// ## Reading and damage
/// Within the **last** segment, a bad record (header cut short by the end of the file, length
/// running past it, CRC mismatch, unknown type, non-zero padding, or non-zero bytes after an
/// all-zero header) is a *torn tail* when no valid record follows it: the log is truncated there
/// and the rest of the preallocation zeroed. It is also treated as torn when valid records do
/// follow but a whole 4096-byte-aligned page between them is zero: page writeback can reach the
/// disk out of order after a power loss, and any record after a lost page belongs to a batch
/// whose `fdatasync` never returned. Every other bad record is `WALError.corrupt`.
/// In earlier segments every bad record is corruption: a segment is `fdatasync`ed before the next
/// one is created.
enum WALFormat {
    static let headerBytes = 8
    static let alignmentBytes = 8
    static let pageBytes = 4096
    static let magic: [UInt8] = Array("SWETCDWL".utf8)
    static let formatVersion: UInt32 = 1
    /// Fixed part of a segment header payload: magic, version, reserved, sequence, first index,
    /// salt.
    static let segmentHeaderFixedBytes = 8 + 4 + 4 + 8 + 8 + 8
    static let snapshotMarkerBytes = 16
    static let segmentSuffix = ".wal"
    static let temporarySuffix = ".tmp"
    static let lockFileName = "lock"

    enum RecordType: UInt8 {
        case segmentHeader = 1
        case entry = 2
        case hardState = 3
        case snapshotMarker = 4
    }

    static func paddedSize(recordLength: Int) -> Int {
        (headerBytes + recordLength + alignmentBytes - 1) & ~(alignmentBytes - 1)
    }

    /// CRC of a record: salt, file offset, the 4 length bytes, then type + payload.
    static func checksum(salt: UInt64, offset: Int, length: UInt32, body: UnsafeRawBufferPointer) -> UInt32 {
        var prefix: (UInt64, UInt64, UInt32) = (salt.littleEndian, UInt64(offset).littleEndian, length.littleEndian)
        let prefixCRC = withUnsafeBytes(of: &prefix) { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
        return CRC32C.update(prefixCRC, body)
    }

    /// Bytes a framed record with a payload of `payloadBytes` occupies.
    static func recordBytes(payloadBytes: Int) -> Int {
        paddedSize(recordLength: 1 + payloadBytes)
    }

    static func entryPayloadBytes(_ entry: Entry) -> Int {
        let typeValue = UInt64(bitPattern: Int64(entry.typeRaw))
        var size = 3 + varintSize(typeValue) + varintSize(entry.term) + varintSize(entry.index)
        if !entry.data.isEmpty { size += 1 + varintSize(UInt64(entry.data.count)) + entry.data.count }
        return size
    }

    static func hardStatePayloadBytes(_ state: HardState) -> Int {
        3 + varintSize(state.term) + varintSize(state.vote) + varintSize(state.commit)
    }

    static func varintSize(_ value: UInt64) -> Int {
        // 1 byte per started 7 bits; 0 takes one byte.
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }
}

/// A segment file name: `%016x-%016x.wal` (sequence, first index).
struct WALSegmentName: Comparable, Hashable, Sendable {
    var sequence: UInt64
    var firstIndex: UInt64

    var fileName: String {
        Self.hex16(sequence) + "-" + Self.hex16(firstIndex) + WALFormat.segmentSuffix
    }

    init(sequence: UInt64, firstIndex: UInt64) {
        self.sequence = sequence
        self.firstIndex = firstIndex
    }

    /// Parses a file name; nil for anything that is not exactly 16 hex digits, '-', 16 hex
    /// digits, ".wal".
    init?(fileName: String) {
        let utf8 = Array(fileName.utf8)
        guard utf8.count == 16 + 1 + 16 + 4, fileName.hasSuffix(WALFormat.segmentSuffix), utf8[16] == UInt8(ascii: "-"),
            let sequence = Self.parseHex(utf8[0..<16]), let firstIndex = Self.parseHex(utf8[17..<33])
        else { return nil }
        self.sequence = sequence
        self.firstIndex = firstIndex
    }

    static func < (a: Self, b: Self) -> Bool { a.sequence < b.sequence }

    static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func parseHex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for d in digits {
            let nibble: UInt8
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = d - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = d - UInt8(ascii: "a") + 10
            default: return nil  // upper case is not etcd's spelling either
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }
}

/// A growable byte buffer that WAL records are encoded into, reused across batches so a batch of
/// appends costs no allocation once the buffer has reached its working size. Owned by one
/// `WriteAheadLog`; not thread-safe.
struct WALRecordBuffer: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var count = 0
    /// Salt of the segment the buffer's records go to.
    private var salt: UInt64 = 0
    /// File offset the buffer's first byte will be written at.
    private var fileOffset = 0

    init(capacity: Int = 64 << 10) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: WALFormat.alignmentBytes)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Empties the buffer for records that will be written to a segment with `salt` starting at
    /// `fileOffset` (both enter every record's CRC).
    mutating func reset(salt: UInt64, fileOffset: Int) {
        precondition(fileOffset % WALFormat.alignmentBytes == 0, "unaligned WAL offset")
        count = 0
        self.salt = salt
        self.fileOffset = fileOffset
    }

    private mutating func reserve(_ extra: Int) {
        let needed = count + extra
        if needed <= capacity { return }
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: WALFormat.alignmentBytes)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends one framed record whose payload is `payloadBytes` long and written by `fill`
    /// (which must write exactly that many bytes at the pointer it is given).
    mutating func appendRecord(_ type: WALFormat.RecordType, payloadBytes: Int, _ fill: (UnsafeMutableRawPointer) -> Void) {
        let length = 1 + payloadBytes
        precondition(length <= Int(UInt32.max), "WAL record too large")
        let total = WALFormat.paddedSize(recordLength: length)
        reserve(total)
        let start = base + count
        start.storeBytes(of: UInt32(length).littleEndian, as: UInt32.self)
        (start + WALFormat.headerBytes).storeBytes(of: type.rawValue, as: UInt8.self)
        fill(start + WALFormat.headerBytes + 1)
        let paddingStart = WALFormat.headerBytes + length
        (start + paddingStart).initializeMemory(as: UInt8.self, repeating: 0, count: total - paddingStart)
        let crc = WALFormat.checksum(
            salt: type == .segmentHeader ? 0 : salt, offset: fileOffset + count, length: UInt32(length),
            body: UnsafeRawBufferPointer(start: start + WALFormat.headerBytes, count: length))
        (start + 4).storeBytes(of: crc.littleEndian, as: UInt32.self)
        count += total
    }

    /// An `entry` record, protobuf-encoded by hand straight into the buffer (the same bytes as
    /// `Entry.serializedBytes()`, which a test checks), avoiding an intermediate array.
    mutating func appendEntry(_ entry: Entry) {
        let typeValue = UInt64(bitPattern: Int64(entry.typeRaw))
        let size = WALFormat.entryPayloadBytes(entry)
        appendRecord(.entry, payloadBytes: size) { p in
            var q = p
            Self.putTagged(0x08, typeValue, &q)
            Self.putTagged(0x10, entry.term, &q)
            Self.putTagged(0x18, entry.index, &q)
            if !entry.data.isEmpty {
                Self.putTagged(0x22, UInt64(entry.data.count), &q)
                entry.data.withUnsafeBytes { q.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                q += entry.data.count
            }
            precondition(q - p == size, "entry encoding size mismatch")
        }
    }

    /// A `hardState` record (term, vote, commit, each always written, as gogoproto does).
    mutating func appendHardState(_ state: HardState) {
        let size = WALFormat.hardStatePayloadBytes(state)
        appendRecord(.hardState, payloadBytes: size) { p in
            var q = p
            Self.putTagged(0x08, state.term, &q)
            Self.putTagged(0x10, state.vote, &q)
            Self.putTagged(0x18, state.commit, &q)
            precondition(q - p == size, "hard state encoding size mismatch")
        }
    }

    mutating func appendSnapshotMarker(_ marker: WALSnapshotMarker) {
        appendRecord(.snapshotMarker, payloadBytes: WALFormat.snapshotMarkerBytes) { p in
            p.storeBytes(of: marker.index.littleEndian, as: UInt64.self)
            (p + 8).storeBytes(of: marker.term.littleEndian, as: UInt64.self)
        }
    }

    mutating func appendSegmentHeader(_ name: WALSegmentName, salt: UInt64, metadata: [UInt8]) {
        precondition(count == 0 && fileOffset == 0, "a segment header goes at offset 0")
        appendRecord(.segmentHeader, payloadBytes: WALFormat.segmentHeaderFixedBytes + metadata.count) { p in
            WALFormat.magic.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            (p + 8).storeBytes(of: WALFormat.formatVersion.littleEndian, as: UInt32.self)
            (p + 12).storeBytes(of: UInt32(0), as: UInt32.self)
            (p + 16).storeBytes(of: name.sequence.littleEndian, as: UInt64.self)
            (p + 24).storeBytes(of: name.firstIndex.littleEndian, as: UInt64.self)
            (p + 32).storeBytes(of: salt.littleEndian, as: UInt64.self)
            metadata.withUnsafeBytes { if let m = $0.baseAddress { (p + 40).copyMemory(from: m, byteCount: $0.count) } }
        }
    }

    private static func putTagged(_ tag: UInt8, _ value: UInt64, _ q: inout UnsafeMutableRawPointer) {
        q.storeBytes(of: tag, as: UInt8.self)
        q += 1
        var v = value
        while v >= 0x80 {
            q.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
            q += 1
            v >>= 7
        }
        q.storeBytes(of: UInt8(v), as: UInt8.self)
        q += 1
    }
}

/// One record found in a segment image: its type, payload range and offset.
struct WALRecordView {
    var type: WALFormat.RecordType
    /// Offset of the record's header in the segment.
    var offset: Int
    /// Payload (after the type byte) range in the segment image.
    var payload: Range<Int>
    /// Offset just past the record's padding.
    var end: Int
}

/// How a scan of a segment image ended.
enum WALScanEnd: Equatable {
    /// All-zero from `offset` to the end of the image (or the image ends exactly there).
    case clean(offset: Int)
    /// A bad record at `offset`; `reason` says what was wrong.
    case damaged(offset: Int, reason: String)
}

enum WALScanner {
    /// Checks the record at `offset` of `image`; returns it, or why it is not a valid record.
    /// An all-zero header is reported as `nil` record with reason "zero header".
    static func record(at offset: Int, in image: UnsafeRawBufferPointer, salt: UInt64) -> Result<WALRecordView, ScanFailure> {
        precondition(offset % WALFormat.alignmentBytes == 0, "unaligned record offset")
        let available = image.count - offset
        if available < WALFormat.headerBytes {
            return .failure(available <= 0 ? .endOfImage : .damaged("header cut short by the end of the file"))
        }
        let length = UInt32(littleEndian: image.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let storedCRC = UInt32(littleEndian: image.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        if length == 0 {
            return .failure(storedCRC == 0 ? .zeroHeader : .damaged("zero length with a non-zero checksum"))
        }
        if Int(length) > available - WALFormat.headerBytes {
            return .failure(.damaged("length \(length) runs past the end of the file"))
        }
        let body = UnsafeRawBufferPointer(rebasing: image[(offset + WALFormat.headerBytes)..<(offset + WALFormat.headerBytes + Int(length))])
        if WALFormat.checksum(salt: offset == 0 ? 0 : salt, offset: offset, length: length, body: body) != storedCRC {
            return .failure(.damaged("checksum mismatch"))
        }
        guard let type = WALFormat.RecordType(rawValue: body[0]) else {
            return .failure(.damaged("unknown record type \(body[0])"))
        }
        if (type == .segmentHeader) != (offset == 0) {
            return .failure(.damaged(offset == 0 ? "first record is not a segment header" : "segment header after offset 0"))
        }
        // Padding that exists must be zero; padding cut off by the end of the file is fine (the
        // bytes of a preallocated or extended file read as zero there).
        let paddedEnd = offset + WALFormat.paddedSize(recordLength: Int(length))
        let paddingStart = offset + WALFormat.headerBytes + Int(length)
        for i in paddingStart..<min(paddedEnd, image.count) where image[i] != 0 {
            return .failure(.damaged("non-zero padding"))
        }
        let payloadStart = offset + WALFormat.headerBytes + 1
        return .success(WALRecordView(type: type, offset: offset, payload: payloadStart..<paddingStart, end: paddedEnd))
    }

    enum ScanFailure: Error, Equatable {
        case endOfImage
        case zeroHeader
        case damaged(String)
    }

    /// Walks the records of a segment image from `start`, calling `visit` for each valid one,
    /// and reports how the walk ended. A zero header ends the walk cleanly only if everything
    /// after it is zero too.
    static func scan(_ image: UnsafeRawBufferPointer, from start: Int, salt: UInt64, _ visit: (WALRecordView) throws(WALError) -> Void) throws(WALError) -> WALScanEnd {
        var offset = start
        while true {
            switch record(at: offset, in: image, salt: salt) {
            case .success(let view):
                try visit(view)
                offset = view.end
            case .failure(.endOfImage):
                return .clean(offset: offset)
            case .failure(.zeroHeader):
                if let nonZero = firstNonZero(image, from: offset) {
                    return .damaged(offset: offset, reason: "non-zero bytes at offset \(nonZero) after the end of the records")
                }
                return .clean(offset: offset)
            case .failure(.damaged(let reason)):
                return .damaged(offset: offset, reason: reason)
            }
        }
    }

    /// Whether damage at `offset` in the last segment is a torn tail (see `WALFormat`): no valid
    /// record after it, or a whole zero page between it and the next valid record.
    static func isTornTail(_ image: UnsafeRawBufferPointer, damagedAt offset: Int, salt: UInt64) -> Bool {
        var candidate = offset + WALFormat.alignmentBytes
        while candidate + WALFormat.headerBytes <= image.count {
            let length = image.loadUnaligned(fromByteOffset: candidate, as: UInt32.self)
            if length != 0, case .success = record(at: candidate, in: image, salt: salt) {
                return containsZeroPage(image, offset..<candidate)
            }
            candidate += WALFormat.alignmentBytes
        }
        return true
    }

    static func containsZeroPage(_ image: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        let page = WALFormat.pageBytes
        var start = (range.lowerBound + page - 1) / page * page
        while start + page <= range.upperBound {
            if firstNonZero(UnsafeRawBufferPointer(rebasing: image[start..<(start + page)]), from: 0) == nil { return true }
            start += page
        }
        return false
    }

    static func firstNonZero(_ image: UnsafeRawBufferPointer, from offset: Int) -> Int? {
        var i = offset
        // Word at a time where aligned; the tail of a 64 MiB preallocation is scanned at open.
        while i < image.count && i % 8 != 0 {
            if image[i] != 0 { return i }
            i += 1
        }
        while i + 8 <= image.count {
            if image.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { break }
            i += 8
        }
        while i < image.count {
            if image[i] != 0 { return i }
            i += 1
        }
        return nil
    }

    /// One past the last non-zero byte at or after `start` (`start` if all zero).
    static func endOfNonZero(_ image: UnsafeRawBufferPointer, notBefore start: Int) -> Int {
        var i = image.count
        while i > start && i % 8 != 0 {
            if image[i - 1] != 0 { return i }
            i -= 1
        }
        while i - 8 >= start && image.loadUnaligned(fromByteOffset: i - 8, as: UInt64.self) == 0 { i -= 8 }
        while i > start {
            if image[i - 1] != 0 { return i }
            i -= 1
        }
        return start
    }
}
