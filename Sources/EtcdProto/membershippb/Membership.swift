// The membershippb package (etcd 3.5+): membership and cluster-version changes that etcd 3.5
// replicates through the raft log (`InternalRaftRequest` fields 1300–1302) and keeps in the
// backend's `members` bucket.

/// `membershippb.RaftAttributes`: what raft needs to know about a member.
public struct RaftAttributes: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.RaftAttributes" }

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

/// `membershippb.Attributes`: what a member publishes about itself once it has started.
public struct Attributes: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.Attributes" }

    public var name: String = ""
    public var clientURLs: [String] = []

    public init() {}

    public init(name: String, clientURLs: [String] = []) {
        self.name = name
        self.clientURLs = clientURLs
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        for url in clientURLs { w.writeStringAlways(2, url) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: clientURLs.append(try r.readString(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `membershippb.Member`. Named `MembershipMember` in Swift because `etcdserverpb.Member` (the
/// Cluster API's view of a member, `Member`) lives in the same module.
public struct MembershipMember: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.Member" }

    public var id: UInt64 = 0
    public var raftAttributes: RaftAttributes? = nil
    public var memberAttributes: Attributes? = nil

    public init() {}

    public init(id: UInt64, raftAttributes: RaftAttributes?, memberAttributes: Attributes? = nil) {
        self.id = id
        self.raftAttributes = raftAttributes
        self.memberAttributes = memberAttributes
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
        w.writeMessage(2, raftAttributes)
        w.writeMessage(3, memberAttributes)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: raftAttributes = try .merging(raftAttributes, from: &r, field: field, wireType: wt)
        case 3: memberAttributes = try .merging(memberAttributes, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `membershippb.ClusterVersionSetRequest`: sets the cluster version ("3.5.0").
public struct ClusterVersionSetRequest: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.ClusterVersionSetRequest" }

    public var ver: String = ""

    public init() {}

    public init(ver: String) {
        self.ver = ver
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, ver)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: ver = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `membershippb.ClusterMemberAttrSetRequest`: publishes a member's attributes.
public struct ClusterMemberAttrSetRequest: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.ClusterMemberAttrSetRequest" }

    public var memberID: UInt64 = 0
    public var memberAttributes: Attributes? = nil

    public init() {}

    public init(memberID: UInt64, memberAttributes: Attributes?) {
        self.memberID = memberID
        self.memberAttributes = memberAttributes
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, memberID)
        w.writeMessage(2, memberAttributes)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: memberID = try r.readUInt64(field, wt)
        case 2: memberAttributes = try .merging(memberAttributes, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `membershippb.DowngradeInfoSetRequest`: starts (`enabled`, target `ver`) or cancels a downgrade.
public struct DowngradeInfoSetRequest: NamedProtoMessage {
    public static var protoMessageName: String { "membershippb.DowngradeInfoSetRequest" }

    public var enabled: Bool = false
    public var ver: String = ""

    public init() {}

    public init(enabled: Bool, ver: String = "") {
        self.enabled = enabled
        self.ver = ver
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBool(1, enabled)
        w.writeString(2, ver)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: enabled = try r.readBool(field, wt)
        case 2: ver = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}
