// The v3electionpb package: the `v3electionpb.Election` service (leader election on keys bound
// to leases).

/// `v3electionpb.LeaderKey`: proof of leadership, given back to Proclaim and Resign.
public struct LeaderKey: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.LeaderKey" }

    /// The election's name.
    public var name: [UInt8] = []
    /// The key that won.
    public var key: [UInt8] = []
    /// Creation revision of `key`.
    public var rev: Int64 = 0
    public var lease: Int64 = 0

    public init() {}

    public init(name: [UInt8], key: [UInt8], rev: Int64, lease: Int64) {
        self.name = name
        self.key = key
        self.rev = rev
        self.lease = lease
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
        w.writeBytes(2, key)
        w.writeInt64(3, rev)
        w.writeInt64(4, lease)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        case 2: key = try r.readBytes(field, wt)
        case 3: rev = try r.readInt64(field, wt)
        case 4: lease = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.CampaignRequest`.
public struct CampaignRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.CampaignRequest" }

    public var name: [UInt8] = []
    /// Lease bound to the candidacy; leadership ends with it.
    public var lease: Int64 = 0
    /// Value announced once elected.
    public var value: [UInt8] = []

    public init() {}

    public init(name: [UInt8], lease: Int64, value: [UInt8]) {
        self.name = name
        self.lease = lease
        self.value = value
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
        w.writeInt64(2, lease)
        w.writeBytes(3, value)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        case 2: lease = try r.readInt64(field, wt)
        case 3: value = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.CampaignResponse`.
public struct CampaignResponse: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.CampaignResponse" }

    public var header: ResponseHeader? = nil
    public var leader: LeaderKey? = nil

    public init() {}

    public init(header: ResponseHeader?, leader: LeaderKey?) {
        self.header = header
        self.leader = leader
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeMessage(2, leader)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: leader = try .merging(leader, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.LeaderRequest`: for Leader and Observe.
public struct LeaderRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.LeaderRequest" }

    public var name: [UInt8] = []

    public init() {}

    public init(name: [UInt8]) {
        self.name = name
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.LeaderResponse`.
public struct LeaderResponse: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.LeaderResponse" }

    public var header: ResponseHeader? = nil
    /// The leader's key and announced value.
    public var kv: KeyValue? = nil

    public init() {}

    public init(header: ResponseHeader?, kv: KeyValue?) {
        self.header = header
        self.kv = kv
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeMessage(2, kv)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: kv = try .merging(kv, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.ResignRequest`.
public struct ResignRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.ResignRequest" }

    public var leader: LeaderKey? = nil

    public init() {}

    public init(leader: LeaderKey?) {
        self.leader = leader
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, leader)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: leader = try .merging(leader, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.ResignResponse`.
public struct ResignResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "v3electionpb.ResignResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `v3electionpb.ProclaimRequest`: a new value from the current leader.
public struct ProclaimRequest: NamedProtoMessage {
    public static var protoMessageName: String { "v3electionpb.ProclaimRequest" }

    public var leader: LeaderKey? = nil
    public var value: [UInt8] = []

    public init() {}

    public init(leader: LeaderKey?, value: [UInt8]) {
        self.leader = leader
        self.value = value
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, leader)
        w.writeBytes(2, value)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: leader = try .merging(leader, from: &r, field: field, wireType: wt)
        case 2: value = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `v3electionpb.ProclaimResponse`.
public struct ProclaimResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "v3electionpb.ProclaimResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}
