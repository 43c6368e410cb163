import EtcdProto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A snapshot point recorded in the WAL: the raft index and term of a saved snapshot.
public struct WALSnapshotMarker: Hashable, Sendable, CustomStringConvertible {
    public var index: UInt64
    public var term: UInt64

    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }

    public var description: String { "(index \(index), term \(term))" }
}

/// What `WriteAheadLog.open` read.
public struct WALContents: Sendable {
    /// The metadata given at `create` (the same in every segment).
    public var metadata: [UInt8]
    /// The last hard state recorded (empty if none was ever appended).
    public var hardState: HardState
    /// The newest snapshot marker in the segments read (nil if none). May be newer than the
    /// snapshot the log was opened from.
    public var lastSnapshot: WALSnapshotMarker?
    /// The snapshot the entries follow: `entries.first?.index == entriesFollow.index + 1` when
    /// both exist. Normally the `fromSnapshot` given to `open`; a later marker beyond the end of
    /// the log (a snapshot installed from the leader) restarts the log after it, and then it is
    /// that marker (the caller must load that snapshot). Nil when opened without a snapshot and
    /// no such marker was read.
    public var entriesFollow: WALSnapshotMarker?
    /// The log after `entriesFollow`, in index order without gaps. An entry recorded again at an
    /// index already seen replaces the earlier one and everything after it (Raft's log
    /// truncation), so this is the log as it stood after the last append.
    public var entries: [Entry]

    public init(metadata: [UInt8], hardState: HardState, lastSnapshot: WALSnapshotMarker?, entriesFollow: WALSnapshotMarker?, entries: [Entry]) {
        self.metadata = metadata
        self.hardState = hardState
        self.lastSnapshot = lastSnapshot
        self.entriesFollow = entriesFollow
        self.entries = entries
    }
}

/// A torn tail found and cut off by `WriteAheadLog.open`, reported through its `onRepair` callback.
public struct WALRepair: Equatable, Sendable, CustomStringConvertible {
    /// The segment's file name.
    public var segment: String
    /// Where the records now end (the damaged record's offset).
    public var offset: Int
    /// Non-zero-filled bytes discarded from `offset` to the old end of the file's contents, at most.
    public var discardedBytes: Int
    /// What was wrong with the record at `offset`.
    public var reason: String

    public var description: String {
        "WAL torn tail repaired: \(segment) truncated at offset \(offset) (\(discardedBytes) bytes discarded): \(reason)"
    }
}

/// The decoded header record of a segment.
struct WALSegmentHeader {
    var name: WALSegmentName
    var salt: UInt64
    var metadata: [UInt8]

    init?(payload: UnsafeRawBufferPointer) {
        guard payload.count >= WALFormat.segmentHeaderFixedBytes,
            payload.prefix(8).elementsEqual(WALFormat.magic),
            UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == WALFormat.formatVersion
        else { return nil }
        name = WALSegmentName(
            sequence: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            firstIndex: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        salt = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        metadata = [UInt8](payload[WALFormat.segmentHeaderFixedBytes...])
    }
}

/// Reads WAL segments: decodes records, applies Raft truncation semantics, finds torn tails.
/// Used by `WriteAheadLog.open` and `readSnapshotMarkers`; single-threaded, no state kept.
struct WALReader {
    let directory: String
    let fromSnapshot: WALSnapshotMarker?

    private(set) var metadata: [UInt8]?
    private(set) var hardState = HardState()
    private(set) var lastSnapshot: WALSnapshotMarker?
    private(set) var entriesFollow: WALSnapshotMarker?
    private(set) var entries: [Entry] = []
    private(set) var markers: [WALSnapshotMarker] = []
    private(set) var foundSnapshot = false

    init(directory: String, fromSnapshot: WALSnapshotMarker?) {
        self.directory = directory
        self.fromSnapshot = fromSnapshot
        self.entriesFollow = fromSnapshot
    }

    /// How a segment's records ended.
    struct SegmentOutcome {
        var header: WALSegmentHeader
        /// Offset just past the last valid record.
        var endOffset: Int
        /// The file's size when read.
        var fileBytes: Int
        /// Set when the last segment has a torn tail at `endOffset`.
        var tornTail: WALRepair?
    }

    /// Reads one whole segment and feeds its records to the log state.
    mutating func readSegment(_ name: WALSegmentName, isLast: Bool) throws(WALError) -> SegmentOutcome {
        let path = "\(directory)/\(name.fileName)"
        let fd: Int32
        do { fd = try POSIXFile.open(path, O_RDONLY) } catch { throw WALError(error) }
        defer { POSIXFile.close(fd) }
        let fileBytes: Int
        do { fileBytes = try POSIXFile.fileSize(fd, path: path) } catch { throw WALError(error) }
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(fileBytes, 1), alignment: 8)
        defer { image.deallocate() }
        let readBytes: Int
        do { readBytes = try POSIXFile.preadFully(fd, image, offset: 0, path: path) } catch { throw WALError(error) }
        let bytes = UnsafeRawBufferPointer(rebasing: image[0..<readBytes])

        // The header record (offset 0, salt 0) must be intact even in the last segment: it was
        // synced before the file got its name.
        let header: WALSegmentHeader
        switch WALScanner.record(at: 0, in: bytes, salt: 0) {
        case .success(let view) where view.type == .segmentHeader:
            guard let decoded = WALSegmentHeader(payload: UnsafeRawBufferPointer(rebasing: bytes[view.payload])) else {
                throw .corrupt(segment: name.fileName, offset: 0, reason: "bad segment header (magic or version)")
            }
            header = decoded
        case .success:
            throw .corrupt(segment: name.fileName, offset: 0, reason: "first record is not a segment header")
        case .failure(let failure):
            throw .corrupt(segment: name.fileName, offset: 0, reason: "unreadable segment header: \(failure)")
        }
        guard header.name == name else {
            throw .corrupt(segment: name.fileName, offset: 0, reason: "header says sequence \(header.name.sequence), first index \(header.name.firstIndex)")
        }
        if let metadata, metadata != header.metadata {
            throw .corrupt(segment: name.fileName, offset: 0, reason: "metadata differs from earlier segments")
        }
        metadata = header.metadata
        let headerEnd = WALFormat.paddedSize(recordLength: 1 + WALFormat.segmentHeaderFixedBytes + header.metadata.count)

        // `fileName` is formatted on each access: once per segment, not once per record.
        let segmentFileName = name.fileName
        let end = try WALScanner.scan(bytes, from: headerEnd, salt: header.salt) { (view) throws(WALError) in
            try self.apply(view, in: bytes, segment: segmentFileName)
        }
        switch end {
        case .clean(let offset):
            return SegmentOutcome(header: header, endOffset: offset, fileBytes: fileBytes, tornTail: nil)
        case .damaged(let offset, let reason):
            guard isLast else {
                throw .corrupt(segment: name.fileName, offset: offset, reason: "\(reason) (not the last segment)")
            }
            guard WALScanner.isTornTail(bytes, damagedAt: offset, salt: header.salt) else {
                throw .corrupt(segment: name.fileName, offset: offset, reason: "\(reason), followed by valid records")
            }
            let contentEnd = WALScanner.endOfNonZero(bytes, notBefore: offset)
            let repair = WALRepair(segment: name.fileName, offset: offset, discardedBytes: contentEnd - offset, reason: reason)
            return SegmentOutcome(header: header, endOffset: offset, fileBytes: fileBytes, tornTail: repair)
        }
    }

    private mutating func apply(_ view: WALRecordView, in bytes: UnsafeRawBufferPointer, segment: String) throws(WALError) {
        let payload = UnsafeRawBufferPointer(rebasing: bytes[view.payload])
        switch view.type {
        case .segmentHeader:
            preconditionFailure("the scanner rejects a segment header after offset 0")
        case .entry:
            let entry: Entry
            do { entry = try Entry(decoding: payload) } catch {
                throw .corrupt(segment: segment, offset: view.offset, reason: "undecodable entry: \(error)")
            }
            try appendEntry(entry, segment: segment, offset: view.offset)
        case .hardState:
            do { hardState = try HardState(decoding: payload) } catch {
                throw .corrupt(segment: segment, offset: view.offset, reason: "undecodable hard state: \(error)")
            }
        case .snapshotMarker:
            guard payload.count == WALFormat.snapshotMarkerBytes else {
                throw .corrupt(segment: segment, offset: view.offset, reason: "snapshot marker of \(payload.count) bytes")
            }
            let marker = WALSnapshotMarker(
                index: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                term: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            markers.append(marker)
            if let fromSnapshot, marker.index == fromSnapshot.index {
                guard marker.term == fromSnapshot.term else {
                    throw .snapshotMismatch(index: marker.index, expectedTerm: fromSnapshot.term, foundTerm: marker.term)
                }
                foundSnapshot = true
            }
            lastSnapshot = marker
            // A snapshot beyond the end of the log was installed from the leader: the log
            // restarts after it.
            let known = entries.last?.index ?? entriesFollow?.index ?? 0
            if marker.index > known {
                entries.removeAll(keepingCapacity: true)
                entriesFollow = marker
            }
        }
    }

    private mutating func appendEntry(_ entry: Entry, segment: String, offset: Int) throws(WALError) {
        if let base = entriesFollow, entry.index <= base.index { return }  // covered by the snapshot
        if let first = entries.first {
            let last = entries[entries.count - 1].index
            if entry.index > last + 1 {
                throw .corrupt(segment: segment, offset: offset, reason: "entry index \(entry.index) after \(last): gap")
            }
            if entry.index <= last {
                // Truncation: this entry replaces the one at its index and everything after.
                let keep = entry.index >= first.index ? Int(entry.index - first.index) : 0
                entries.removeSubrange(keep...)
            }
        } else if let base = entriesFollow, entry.index != base.index + 1 {
            throw .corrupt(segment: segment, offset: offset, reason: "first entry \(entry.index) does not follow snapshot \(base)")
        }
        entries.append(entry)
    }
}
