// The v3lockpb package: the `v3lockpb.Lock` service (distributed mutexes on keys bound to leases).

/// `v3lockpb.LockRequest`.
public struct LockRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3lockpb.LockRequest" }

    /// The lock's name; holders' keys live under it.
    public var name: [UInt8] = []
    /// Lease bounding how long the lock is held; required.
    public var lease: Int64 = 0

    public init() {}

    public init(name: [UInt8], lease: Int64) {
        self.name = name
        self.lease = lease
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
        w.writeInt64(2, lease)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        case 2: lease = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3lockpb.LockResponse`.
public struct LockResponse: NamedProtoMessage {
    public static var protoMessageName: String { "v3lockpb.LockResponse" }

    public var header: ResponseHeader? = nil
    /// The key whose existence means the caller holds the lock; Unlock takes it.
    public var key: [UInt8] = []

    public init() {}

    public init(header: ResponseHeader?, key: [UInt8]) {
        self.header = header
        self.key = key
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeBytes(2, key)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: key = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3lockpb.UnlockRequest`.
public struct UnlockRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3lockpb.UnlockRequest" }

    public var key: [UInt8] = []

    public init() {}

    public init(key: [UInt8]) {
        self.key = key
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3lockpb.UnlockResponse`.
public struct UnlockResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "v3lockpb.UnlockResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}
