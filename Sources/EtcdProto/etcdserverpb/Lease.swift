// Messages of the `etcdserverpb.Lease` service, and the lease checkpoint the leader replicates
// through raft so that remaining TTLs survive a leader change.

/// `etcdserverpb.LeaseGrantRequest`.
public struct LeaseGrantRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseGrantRequest" }

    /// Requested time to live, in seconds.
    public var ttl: Int64 = 0
    /// Requested lease ID; 0 lets the server choose.
    public var id: Int64 = 0

    public init() {}

    public init(ttl: Int64, id: Int64 = 0) {
        self.ttl = ttl
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, ttl)
        w.writeInt64(2, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: ttl = try r.readInt64(field, wt)
        case 2: id = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseGrantResponse`.
public struct LeaseGrantResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseGrantResponse" }

    public var header: ResponseHeader? = nil
    public var id: Int64 = 0
    /// Granted time to live, in seconds (may exceed the request: the server's minimum TTL).
    public var ttl: Int64 = 0
    public var error: String = ""

    public init() {}

    public init(header: ResponseHeader?, id: Int64, ttl: Int64, error: String = "") {
        self.header = header
        self.id = id
        self.ttl = ttl
        self.error = error
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeInt64(2, id)
        w.writeInt64(3, ttl)
        w.writeString(4, error)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: id = try r.readInt64(field, wt)
        case 3: ttl = try r.readInt64(field, wt)
        case 4: error = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseRevokeRequest`: ends a lease and deletes the keys bound to it.
public struct LeaseRevokeRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseRevokeRequest" }

    public var id: Int64 = 0

    public init() {}

    public init(id: Int64) {
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseRevokeResponse`.
public struct LeaseRevokeResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.LeaseRevokeResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.LeaseCheckpoint`: a lease's remaining TTL as the leader last saw it.
public struct LeaseCheckpoint: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseCheckpoint" }

    public var id: Int64 = 0
    /// Seconds left.
    public var remainingTTL: Int64 = 0

    public init() {}

    public init(id: Int64, remainingTTL: Int64) {
        self.id = id
        self.remainingTTL = remainingTTL
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
        w.writeInt64(2, remainingTTL)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        case 2: remainingTTL = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseCheckpointRequest`: a batch of checkpoints, proposed by the leader.
public struct LeaseCheckpointRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseCheckpointRequest" }

    public var checkpoints: [LeaseCheckpoint] = []

    public init() {}

    public init(checkpoints: [LeaseCheckpoint]) {
        self.checkpoints = checkpoints
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeRepeatedMessages(1, checkpoints)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: checkpoints.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseCheckpointResponse`.
public struct LeaseCheckpointResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.LeaseCheckpointResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.LeaseKeepAliveRequest`: one renewal on a LeaseKeepAlive stream.
public struct LeaseKeepAliveRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseKeepAliveRequest" }

    public var id: Int64 = 0

    public init() {}

    public init(id: Int64) {
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseKeepAliveResponse`.
public struct LeaseKeepAliveResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseKeepAliveResponse" }

    public var header: ResponseHeader? = nil
    public var id: Int64 = 0
    /// New time to live in seconds; 0 or less when the lease no longer exists.
    public var ttl: Int64 = 0

    public init() {}

    public init(header: ResponseHeader?, id: Int64, ttl: Int64) {
        self.header = header
        self.id = id
        self.ttl = ttl
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeInt64(2, id)
        w.writeInt64(3, ttl)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: id = try r.readInt64(field, wt)
        case 3: ttl = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseTimeToLiveRequest`.
public struct LeaseTimeToLiveRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseTimeToLiveRequest" }

    public var id: Int64 = 0
    /// Also list the keys bound to the lease.
    public var keys: Bool = false

    public init() {}

    public init(id: Int64, keys: Bool = false) {
        self.id = id
        self.keys = keys
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
        w.writeBool(2, keys)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        case 2: keys = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseTimeToLiveResponse`.
public struct LeaseTimeToLiveResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseTimeToLiveResponse" }

    public var header: ResponseHeader? = nil
    public var id: Int64 = 0
    /// Seconds left; -1 when the lease has expired or never existed.
    public var ttl: Int64 = 0
    /// TTL granted at creation or at the last renewal, in seconds.
    public var grantedTTL: Int64 = 0
    public var keys: [[UInt8]] = []

    public init() {}

    public init(header: ResponseHeader?, id: Int64, ttl: Int64, grantedTTL: Int64, keys: [[UInt8]] = []) {
        self.header = header
        self.id = id
        self.ttl = ttl
        self.grantedTTL = grantedTTL
        self.keys = keys
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeInt64(2, id)
        w.writeInt64(3, ttl)
        w.writeInt64(4, grantedTTL)
        for key in keys { w.writeBytesAlways(5, key) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: id = try r.readInt64(field, wt)
        case 3: ttl = try r.readInt64(field, wt)
        case 4: grantedTTL = try r.readInt64(field, wt)
        case 5: keys.append(try r.readBytes(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseLeasesRequest`: lists every lease.
public struct LeaseLeasesRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseLeasesRequest" }
    public init() {}
}

/// `etcdserverpb.LeaseStatus`.
public struct LeaseStatus: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseStatus" }

    public var id: Int64 = 0

    public init() {}

    public init(id: Int64) {
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.LeaseLeasesResponse`.
public struct LeaseLeasesResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.LeaseLeasesResponse" }

    public var header: ResponseHeader? = nil
    public var leases: [LeaseStatus] = []

    public init() {}

    public init(header: ResponseHeader?, leases: [LeaseStatus]) {
        self.header = header
        self.leases = leases
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeRepeatedMessages(2, leases)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: leases.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
