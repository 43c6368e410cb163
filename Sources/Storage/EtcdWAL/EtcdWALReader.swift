import EtcdProto
import Foundation

/// Reads an etcd 3.4/3.5 write-ahead log (`member/wal/%016x-%016x.wal`), for moving a data dir
/// from etcd to swetcd: its metadata (member and cluster IDs), its last hard state, and the log
/// entries as etcd's `ReadAll` leaves them (a later entry at an index already seen replaces the
/// tail from there).
///
/// The format (etcd's `wal/encoder.go`): each record is an 8-byte little-endian frame — the low
/// 56 bits its length, and when the top bit is set, the low three bits of the top byte its
/// padding to 8 bytes — then a `walpb.Record` {type, crc, data}. Types: 1 metadata, 2 entry,
/// 3 hard state, 4 crc (the running CRC at a segment's start), 5 snapshot marker. The CRC is
/// CRC-32C over the records' data, running across segments. Eight zero bytes end the records
/// (the rest of a preallocated segment).
///
/// A torn record at the very end of the last segment ends the log there, as etcd repairs it;
/// anything else that does not read (a bad CRC, a frame past a segment's end before the last
/// segment) throws `Failure` naming the file and offset.
public struct EtcdWALReader {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Contents {
        public var memberID: UInt64 = 0
        public var clusterID: UInt64 = 0
        public var hardState = HardState()
        /// Entries in index order, from the first the segments hold.
        public var entries: [Entry] = []
        /// The snapshot markers, in order (index, term).
        public var snapshots: [(index: UInt64, term: UInt64)] = []
        /// Whether the last segment ended in a torn record (dropped).
        public var tornTail = false
    }

    /// etcd's WAL file names, in order.
    public static func segmentNames(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            let parts = name.split(separator: "-")
            return name.hasSuffix(".wal") && parts.count == 2 && parts[0].count == 16
        }.sorted()
    }

    /// Whether `directory` holds an etcd WAL (segments whose first frame is etcd's, not swetcd's).
    public static func isEtcdWAL(_ directory: String) -> Bool {
        guard let first = segmentNames(in: directory).first,
            let handle = FileHandle(forReadingAtPath: directory + "/" + first),
            let head = try? handle.read(upToCount: 16)
        else { return false }
        try? handle.close()
        return head.count == 16 && !Data(head).starts(with: Array("SWETCDWL".utf8)) && String(decoding: head[8..<16], as: UTF8.self) != "SWETCDWL"
    }

    public static func read(directory: String) throws -> Contents {
        let names = segmentNames(in: directory)
        guard !names.isEmpty else { throw Failure(description: "\(directory): no WAL segments") }
        var contents = Contents()
        var crc: UInt32 = 0
        for (n, name) in names.enumerated() {
            let path = directory + "/" + name
            let data: [UInt8]
            do { data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) } catch {
                throw Failure(description: "cannot read \(path): \(error.localizedDescription)")
            }
            let isLast = n == names.count - 1
            var offset = 0
            while offset + 8 <= data.count {
                let frame = data[offset..<offset + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                if frame == 0 { break }
                let length = Int(frame & 0x00FF_FFFF_FFFF_FFFF)
                let padding = frame >> 63 == 1 ? Int((frame >> 56) & 0x7) : 0
                let start = offset + 8
                guard length > 0, start + length + padding <= data.count else {
                    if isLast { contents.tornTail = true; break }
                    throw Failure(description: "\(path): a record at offset \(offset) runs past the end of the file")
                }
                guard let record = Self.record(data[start..<start + length]) else {
                    if isLast { contents.tornTail = true; break }
                    throw Failure(description: "\(path): an unreadable record at offset \(offset)")
                }
                switch record.type {
                case 4:
                    // The running CRC carried into this segment.
                    if crc != 0 && record.crc != crc {
                        throw Failure(description: "\(path): the CRC carried into the segment (\(record.crc)) is not the previous one's (\(crc))")
                    }
                    crc = record.crc
                default:
                    let next = record.data.withUnsafeBytes { CRC32C.update(crc, $0) }
                    guard next == record.crc else {
                        if isLast { contents.tornTail = true; break }
                        throw Failure(description: "\(path): CRC mismatch at offset \(offset)")
                    }
                    crc = next
                    try apply(record, to: &contents, path: path, offset: offset)
                }
                if contents.tornTail { break }
                offset = start + length + padding
            }
        }
        return contents
    }

    private static func apply(_ record: (type: UInt64, crc: UInt32, data: [UInt8]), to c: inout Contents, path: String, offset: Int) throws {
        switch record.type {
        case 1:
            let fields = Self.varints(record.data)
            c.memberID = fields[1] ?? 0
            c.clusterID = fields[2] ?? 0
        case 2:
            let entry: Entry
            do { entry = try Entry(serializedBytes: record.data) } catch {
                throw Failure(description: "\(path): an undecodable entry at offset \(offset)")
            }
            if let first = c.entries.first, entry.index >= first.index, entry.index <= c.entries.last!.index {
                c.entries.removeSubrange(Int(entry.index - first.index)...)
            }
            if let last = c.entries.last, entry.index != last.index + 1 {
                throw Failure(description: "\(path): entry \(entry.index) after \(last.index) at offset \(offset)")
            }
            c.entries.append(entry)
        case 3:
            do { c.hardState = try HardState(serializedBytes: record.data) } catch {
                throw Failure(description: "\(path): an undecodable hard state at offset \(offset)")
            }
        case 5:
            let fields = Self.varints(record.data)
            c.snapshots.append((fields[1] ?? 0, fields[2] ?? 0))
        default:
            throw Failure(description: "\(path): a record of unknown type \(record.type) at offset \(offset)")
        }
    }

    /// A `walpb.Record`: type (1), crc (2), data (3); nil if it does not decode.
    static func record(_ bytes: ArraySlice<UInt8>) -> (type: UInt64, crc: UInt32, data: [UInt8])? {
        bytes.withUnsafeBytes { raw -> (type: UInt64, crc: UInt32, data: [UInt8])? in
            var r = ProtoReader(raw)
            var type: UInt64 = 0, crc: UInt32 = 0
            var data: [UInt8] = []
            do {
                while let (field, wireType) = try r.nextTag() {
                    switch field {
                    case 1: type = try r.readUInt64(field, wireType)
                    case 2: crc = try r.readUInt32(field, wireType)
                    case 3: data = try r.readBytes(field, wireType)
                    default: try r.skipField(wireType)
                    }
                }
            } catch {
                return nil
            }
            return (type, crc, data)
        }
    }

    /// The varint fields of a small message (metadata, snapshot marker), by field number; what
    /// does not decode ends the reading.
    static func varints(_ bytes: [UInt8]) -> [UInt64: UInt64] {
        bytes.withUnsafeBytes { raw in
            var r = ProtoReader(raw)
            var out: [UInt64: UInt64] = [:]
            while let (field, wireType) = try? r.nextTag() {
                if wireType == .varint {
                    guard let v = try? r.readVarint() else { break }
                    out[UInt64(field)] = v
                } else if (try? r.skipField(wireType)) == nil {
                    break
                }
            }
            return out
        }
    }
}
