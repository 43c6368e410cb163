// Messages of the `etcdserverpb.Cluster` service (membership as clients see it).

/// `etcdserverpb.Member`.
public struct Member: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.Member" }

    public var id: UInt64 = 0
    /// Empty until the member has started and published its attributes.
    public var name: String = ""
    public var peerURLs: [String] = []
    public var clientURLs: [String] = []
    public var isLearner: Bool = false

    public init() {}

    public init(id: UInt64, name: String = "", peerURLs: [String] = [], clientURLs: [String] = [], isLearner: Bool = false) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
        w.writeString(2, name)
        for url in peerURLs { w.writeStringAlways(3, url) }
        for url in clientURLs { w.writeStringAlways(4, url) }
        w.writeBool(5, isLearner)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: name = try r.readString(field, wt)
        case 3: peerURLs.append(try r.readString(field, wt))
        case 4: clientURLs.append(try r.readString(field, wt))
        case 5: isLearner = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberAddRequest`.
public struct MemberAddRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberAddRequest" }

    public var peerURLs: [String] = []
    public var isLearner: Bool = false

    public init() {}

    public init(peerURLs: [String], isLearner: Bool = false) {
        self.peerURLs = peerURLs
        self.isLearner = isLearner
    }

    public func encode(to w: inout ProtoWriter) {
        for url in peerURLs { w.writeStringAlways(1, url) }
        w.writeBool(2, isLearner)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: peerURLs.append(try r.readString(field, wt))
        case 2: isLearner = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberAddResponse`.
public struct MemberAddResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberAddResponse" }

    public var header: ResponseHeader? = nil
    /// The member just added.
    public var member: Member? = nil
    /// Every member after the change.
    public var members: [Member] = []

    public init() {}

    public init(header: ResponseHeader?, member: Member?, members: [Member]) {
        self.header = header
        self.member = member
        self.members = members
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeMessage(2, member)
        w.writeRepeatedMessages(3, members)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: member = try .merging(member, from: &r, field: field, wireType: wt)
        case 3: members.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberRemoveRequest`.
public struct MemberRemoveRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberRemoveRequest" }

    public var id: UInt64 = 0

    public init() {}

    public init(id: UInt64) {
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// A membership response: the header and every member after the change. Shared by
/// `MemberRemoveResponse`, `MemberUpdateResponse`, `MemberListResponse` and
/// `MemberPromoteResponse`, which have this shape and nothing else.
public protocol MemberListShapedResponse: NamedProtoMessage {
    var header: ResponseHeader? { get set }
    var members: [Member] { get set }
}

extension MemberListShapedResponse {
    public init(header: ResponseHeader?, members: [Member]) {
        self.init()
        self.header = header
        self.members = members
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeRepeatedMessages(2, members)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: members.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberRemoveResponse`.
public struct MemberRemoveResponse: MemberListShapedResponse {
    public static var protoMessageName: String { "etcdserverpb.MemberRemoveResponse" }
    public var header: ResponseHeader? = nil
    public var members: [Member] = []
    public init() {}
}

/// `etcdserverpb.MemberUpdateRequest`: replaces a member's peer URLs.
public struct MemberUpdateRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberUpdateRequest" }

    public var id: UInt64 = 0
    public var peerURLs: [String] = []

    public init() {}

    public init(id: UInt64, peerURLs: [String]) {
        self.id = id
        self.peerURLs = peerURLs
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
        for url in peerURLs { w.writeStringAlways(2, url) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: peerURLs.append(try r.readString(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberUpdateResponse`.
public struct MemberUpdateResponse: MemberListShapedResponse {
    public static var protoMessageName: String { "etcdserverpb.MemberUpdateResponse" }
    public var header: ResponseHeader? = nil
    public var members: [Member] = []
    public init() {}
}

/// `etcdserverpb.MemberListRequest`.
public struct MemberListRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberListRequest" }

    /// Answer only after a quorum read (etcd 3.5); otherwise from the local member's view.
    public var linearizable: Bool = false

    public init() {}

    public init(linearizable: Bool) {
        self.linearizable = linearizable
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBool(1, linearizable)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: linearizable = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberListResponse`.
public struct MemberListResponse: MemberListShapedResponse {
    public static var protoMessageName: String { "etcdserverpb.MemberListResponse" }
    public var header: ResponseHeader? = nil
    public var members: [Member] = []
    public init() {}
}

/// `etcdserverpb.MemberPromoteRequest`: turns a caught-up learner into a voter.
public struct MemberPromoteRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MemberPromoteRequest" }

    public var id: UInt64 = 0

    public init() {}

    public init(id: UInt64) {
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MemberPromoteResponse`.
public struct MemberPromoteResponse: MemberListShapedResponse {
    public static var protoMessageName: String { "etcdserverpb.MemberPromoteResponse" }
    public var header: ResponseHeader? = nil
    public var members: [Member] = []
    public init() {}
}
