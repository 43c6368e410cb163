/// `etcdserverpb.RangeRequest` / `RangeResponse`.
public struct RangeRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.RangeRequest" }

    /// `RangeRequest.SortOrder`. Unknown raw values are kept so the server can reject them with
    /// etcd's "invalid sort option".
    public enum SortOrder: Int32, Sendable { case none = 0, ascend = 1, descend = 2 }
    /// `RangeRequest.SortTarget`.
    public enum SortTarget: Int32, Sendable { case key = 0, version = 1, create = 2, mod = 3, value = 4 }

    public var key: [UInt8] = []
    /// Empty: the single key `key`; "\0": every key ≥ `key`; otherwise the half-open [key, rangeEnd).
    public var rangeEnd: [UInt8] = []
    public var limit: Int64 = 0
    /// 0 means the latest revision.
    public var revision: Int64 = 0
    public var sortOrderRaw: Int32 = 0
    public var sortTargetRaw: Int32 = 0
    public var serializable: Bool = false
    public var keysOnly: Bool = false
    public var countOnly: Bool = false
    public var minModRevision: Int64 = 0
    public var maxModRevision: Int64 = 0
    public var minCreateRevision: Int64 = 0
    public var maxCreateRevision: Int64 = 0

    public var sortOrder: SortOrder? { SortOrder(rawValue: sortOrderRaw) }
    public var sortTarget: SortTarget? { SortTarget(rawValue: sortTargetRaw) }

    public init() {}

    public init(key: [UInt8], rangeEnd: [UInt8] = [], limit: Int64 = 0, revision: Int64 = 0, sortOrder: SortOrder = .none, sortTarget: SortTarget = .key, serializable: Bool = false, keysOnly: Bool = false, countOnly: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.limit = limit
        self.revision = revision
        self.sortOrderRaw = sortOrder.rawValue
        self.sortTargetRaw = sortTarget.rawValue
        self.serializable = serializable
        self.keysOnly = keysOnly
        self.countOnly = countOnly
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
        w.writeBytes(2, rangeEnd)
        w.writeInt64(3, limit)
        w.writeInt64(4, revision)
        w.writeEnum(5, sortOrderRaw)
        w.writeEnum(6, sortTargetRaw)
        w.writeBool(7, serializable)
        w.writeBool(8, keysOnly)
        w.writeBool(9, countOnly)
        w.writeInt64(10, minModRevision)
        w.writeInt64(11, maxModRevision)
        w.writeInt64(12, minCreateRevision)
        w.writeInt64(13, maxCreateRevision)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        case 2: rangeEnd = try r.readBytes(field, wt)
        case 3: limit = try r.readInt64(field, wt)
        case 4: revision = try r.readInt64(field, wt)
        case 5: sortOrderRaw = try r.readEnum(field, wt)
        case 6: sortTargetRaw = try r.readEnum(field, wt)
        case 7: serializable = try r.readBool(field, wt)
        case 8: keysOnly = try r.readBool(field, wt)
        case 9: countOnly = try r.readBool(field, wt)
        case 10: minModRevision = try r.readInt64(field, wt)
        case 11: maxModRevision = try r.readInt64(field, wt)
        case 12: minCreateRevision = try r.readInt64(field, wt)
        case 13: maxCreateRevision = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

public struct RangeResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.RangeResponse" }

    public var header: ResponseHeader? = nil
    public var kvs: [KeyValue] = []
    /// Whether more keys remain in the range than `limit` returned.
    public var more: Bool = false
    /// Number of keys in the range, regardless of `limit`.
    public var count: Int64 = 0

    public init() {}

    public init(header: ResponseHeader?, kvs: [KeyValue], more: Bool = false, count: Int64) {
        self.header = header
        self.kvs = kvs
        self.more = more
        self.count = count
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeRepeatedMessages(2, kvs)
        w.writeBool(3, more)
        w.writeInt64(4, count)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: kvs.append(try r.readMessage(field, wt))
        case 3: more = try r.readBool(field, wt)
        case 4: count = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
