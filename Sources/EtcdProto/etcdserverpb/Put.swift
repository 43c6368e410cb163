/// `etcdserverpb.PutRequest`: writes one key (KV.Put, or an operation inside a Txn).
public struct PutRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.PutRequest" }

    public var key: [UInt8] = []
    public var value: [UInt8] = []
    /// Lease to bind the key to; 0 for none.
    public var lease: Int64 = 0
    /// Return the previous key-value in the response.
    public var prevKV: Bool = false
    /// Keep the key's current value; `value` must then be empty ("etcdserver: value is provided").
    public var ignoreValue: Bool = false
    /// Keep the key's current lease; `lease` must then be 0 ("etcdserver: lease is provided").
    public var ignoreLease: Bool = false

    public init() {}

    public init(key: [UInt8], value: [UInt8], lease: Int64 = 0, prevKV: Bool = false, ignoreValue: Bool = false, ignoreLease: Bool = false) {
        self.key = key
        self.value = value
        self.lease = lease
        self.prevKV = prevKV
        self.ignoreValue = ignoreValue
        self.ignoreLease = ignoreLease
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
        w.writeBytes(2, value)
        w.writeInt64(3, lease)
        w.writeBool(4, prevKV)
        w.writeBool(5, ignoreValue)
        w.writeBool(6, ignoreLease)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        case 2: value = try r.readBytes(field, wt)
        case 3: lease = try r.readInt64(field, wt)
        case 4: prevKV = try r.readBool(field, wt)
        case 5: ignoreValue = try r.readBool(field, wt)
        case 6: ignoreLease = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.PutResponse`.
public struct PutResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.PutResponse" }

    public var header: ResponseHeader? = nil
    /// The key before the put, when `prevKV` was asked for and the key existed.
    public var prevKV: KeyValue? = nil

    public init() {}

    public init(header: ResponseHeader?, prevKV: KeyValue? = nil) {
        self.header = header
        self.prevKV = prevKV
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeMessage(2, prevKV)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: prevKV = try .merging(prevKV, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
