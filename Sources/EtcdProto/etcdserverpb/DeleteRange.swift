/// `etcdserverpb.DeleteRangeRequest`: deletes a key or a key range.
public struct DeleteRangeRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DeleteRangeRequest" }

    public var key: [UInt8] = []
    /// Same meaning as `RangeRequest.rangeEnd`.
    public var rangeEnd: [UInt8] = []
    /// Return the deleted key-values in the response.
    public var prevKV: Bool = false

    public init() {}

    public init(key: [UInt8], rangeEnd: [UInt8] = [], prevKV: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.prevKV = prevKV
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
        w.writeBytes(2, rangeEnd)
        w.writeBool(3, prevKV)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        case 2: rangeEnd = try r.readBytes(field, wt)
        case 3: prevKV = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.DeleteRangeResponse`.
public struct DeleteRangeResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DeleteRangeResponse" }

    public var header: ResponseHeader? = nil
    /// Number of keys deleted.
    public var deleted: Int64 = 0
    public var prevKVs: [KeyValue] = []

    public init() {}

    public init(header: ResponseHeader?, deleted: Int64, prevKVs: [KeyValue] = []) {
        self.header = header
        self.deleted = deleted
        self.prevKVs = prevKVs
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeInt64(2, deleted)
        w.writeRepeatedMessages(3, prevKVs)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: deleted = try r.readInt64(field, wt)
        case 3: prevKVs.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
