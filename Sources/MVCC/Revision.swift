/// A point in the store's history: `main` is the revision of the write transaction, `sub` the
/// position of the change inside it (etcd's `revision{main, sub}`).
public struct Revision: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var main: Int64
    public var sub: Int64

    public init(main: Int64, sub: Int64 = 0) {
        self.main = main
        self.sub = sub
    }

    public static func < (a: Revision, b: Revision) -> Bool {
        a.main != b.main ? a.main < b.main : a.sub < b.sub
    }

    public var description: String { "\(main)_\(sub)" }
}

/// Byte layouts of the keys of the revision-ordered table and the per-key history table.
///
/// - Revision table key: etcd's own backend key format (`mvcc/revision.go`): 8 bytes big-endian
///   main, the byte `_`, 8 bytes big-endian sub (17 bytes), plus a trailing `t` for a tombstone
///   (18 bytes). Big-endian makes LMDB's byte order the revision order, so the table doubles as
///   the watch history and the hash input, and can be exported as etcd's `key` bucket.
/// - History entry (a fixed-size duplicate under the user key): 8 bytes big-endian of `~main`,
///   8 bytes of `~sub`, 1 flag byte (0 put, 1 tombstone). Inverting makes LMDB's ascending
///   duplicate order newest-first, so "latest revision ≤ R" is one `MDB_GET_BOTH_RANGE`.
public enum RevisionKey {
    public static let bytes = 17
    public static let tombstoneBytes = 18
    public static let tombstoneMarker = UInt8(ascii: "t")
    public static let historyEntryBytes = 17

    public static func encode(_ rev: Revision, tombstone: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: tombstone ? tombstoneBytes : bytes)
        write(UInt64(bitPattern: rev.main), into: &out, at: 0)
        out[8] = UInt8(ascii: "_")
        write(UInt64(bitPattern: rev.sub), into: &out, at: 9)
        if tombstone { out[17] = tombstoneMarker }
        return out
    }

    /// Decodes a revision-table key; nil if it is not 17 or 18 bytes.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> (Revision, tombstone: Bool)? {
        guard raw.count == bytes || raw.count == tombstoneBytes else { return nil }
        let main = Int64(bitPattern: read(raw, at: 0))
        let sub = Int64(bitPattern: read(raw, at: 9))
        return (Revision(main: main, sub: sub), raw.count == tombstoneBytes && raw[17] == tombstoneMarker)
    }

    public static func historyEntry(_ rev: Revision, tombstone: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: historyEntryBytes)
        write(~UInt64(bitPattern: rev.main), into: &out, at: 0)
        write(~UInt64(bitPattern: rev.sub), into: &out, at: 8)
        out[16] = tombstone ? 1 : 0
        return out
    }

    /// The smallest history entry for revisions ≤ `rev` (newest first), for `MDB_GET_BOTH_RANGE`.
    public static func historySeek(atOrBelow rev: Revision) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: historyEntryBytes)
        write(~UInt64(bitPattern: rev.main), into: &out, at: 0)
        write(~UInt64(bitPattern: rev.sub), into: &out, at: 8)
        return out
    }

    public static func decodeHistoryEntry(_ raw: UnsafeRawBufferPointer) -> (Revision, tombstone: Bool) {
        precondition(raw.count == historyEntryBytes, "history entry of \(raw.count) bytes")
        let main = Int64(bitPattern: ~read(raw, at: 0))
        let sub = Int64(bitPattern: ~read(raw, at: 8))
        return (Revision(main: main, sub: sub), raw[16] == 1)
    }

    static func write(_ v: UInt64, into out: inout [UInt8], at offset: Int) {
        var be = v.bigEndian
        withUnsafeBytes(of: &be) { src in
            for i in 0..<8 { out[offset + i] = src[i] }
        }
    }

    static func read(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(raw[offset + i]) }
        return v
    }
}
