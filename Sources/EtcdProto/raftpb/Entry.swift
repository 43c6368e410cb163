/// `raftpb.EntryType`.
public enum EntryType: Int32, Sendable {
    case normal = 0
    case confChange = 1
    case confChangeV2 = 2
}

/// `raftpb.Entry` (etcd `raft/raftpb/raft.proto`, proto2 with gogoproto non-nullable fields: term,
/// index and type are always written, data only when present).
public struct Entry: ProtoMessage {
    public var term: UInt64 = 0
    public var index: UInt64 = 0
    public var typeRaw: Int32 = 0
    /// For a normal entry: an encoded `InternalRaftRequest` (empty for the leader's no-op entry).
    public var data: [UInt8] = []

    public var type: EntryType? { EntryType(rawValue: typeRaw) }

    public init() {}

    public init(term: UInt64, index: UInt64, type: EntryType = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.typeRaw = type.rawValue
        self.data = data
    }

    /// The size of this entry's encoding in bytes, computed without encoding it (etcd's
    /// `Entry.Size()`, which bounds append messages and Ready batches).
    @inlinable
    public var encodedSize: Int {
        var n = 3 + Self.varintSize(UInt64(bitPattern: Int64(typeRaw))) + Self.varintSize(term) + Self.varintSize(index)
        if !data.isEmpty { n += 1 + Self.varintSize(UInt64(data.count)) + data.count }
        return n
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64Always(1, Int64(typeRaw))
        w.writeUInt64Always(2, term)
        w.writeUInt64Always(3, index)
        w.writeBytes(4, data)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: typeRaw = try r.readEnum(field, wt)
        case 2: term = try r.readUInt64(field, wt)
        case 3: index = try r.readUInt64(field, wt)
        case 4: data = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

extension Entry {
    /// Bytes a varint takes on the wire (1 for values below 128, up to 10).
    @usableFromInline
    static func varintSize(_ value: UInt64) -> Int {
        // Significant bits, 7 per byte; 0 still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }
}
