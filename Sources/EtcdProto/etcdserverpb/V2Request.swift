// etcd's etcdserver.proto (proto2): the v2 store request still found in etcd 3.4/3.5 raft logs,
// and the WAL metadata record. etcd marks most fields gogoproto non-nullable, so it always writes
// them, zero or not; we do the same, so our entries and WAL records match etcd's byte for byte.

/// `etcdserverpb.Request`: a v2 store operation (`InternalRaftRequest.v2`). Named `V2Request` in
/// Swift; `Request` alone would say nothing.
///
/// etcd 3.4 publishes member attributes (`PUT /0/members/<id>/attributes`) and the cluster
/// version (`PUT /0/version`) with these; a member replaying such a log must apply them.
public struct V2Request: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.Request" }

    public var id: UInt64 = 0
    public var method: String = ""
    public var path: String = ""
    public var val: String = ""
    public var dir: Bool = false
    public var prevValue: String = ""
    public var prevIndex: UInt64 = 0
    /// Nullable in etcd: written only when set.
    public var prevExist: Bool? = nil
    public var expiration: Int64 = 0
    public var wait: Bool = false
    public var since: UInt64 = 0
    public var recursive: Bool = false
    public var sorted: Bool = false
    public var quorum: Bool = false
    public var time: Int64 = 0
    public var stream: Bool = false
    /// Nullable in etcd: written only when set.
    public var refresh: Bool? = nil

    public init() {}

    public init(id: UInt64, method: String, path: String, val: String = "") {
        self.id = id
        self.method = method
        self.path = path
        self.val = val
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64Always(1, id)
        w.writeStringAlways(2, method)
        w.writeStringAlways(3, path)
        w.writeStringAlways(4, val)
        w.writeBoolAlways(5, dir)
        w.writeStringAlways(6, prevValue)
        w.writeUInt64Always(7, prevIndex)
        if let prevExist { w.writeBoolAlways(8, prevExist) }
        w.writeInt64Always(9, expiration)
        w.writeBoolAlways(10, wait)
        w.writeUInt64Always(11, since)
        w.writeBoolAlways(12, recursive)
        w.writeBoolAlways(13, sorted)
        w.writeBoolAlways(14, quorum)
        w.writeInt64Always(15, time)
        w.writeBoolAlways(16, stream)
        if let refresh { w.writeBoolAlways(17, refresh) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: method = try r.readString(field, wt)
        case 3: path = try r.readString(field, wt)
        case 4: val = try r.readString(field, wt)
        case 5: dir = try r.readBool(field, wt)
        case 6: prevValue = try r.readString(field, wt)
        case 7: prevIndex = try r.readUInt64(field, wt)
        case 8: prevExist = try r.readBool(field, wt)
        case 9: expiration = try r.readInt64(field, wt)
        case 10: wait = try r.readBool(field, wt)
        case 11: since = try r.readUInt64(field, wt)
        case 12: recursive = try r.readBool(field, wt)
        case 13: sorted = try r.readBool(field, wt)
        case 14: quorum = try r.readBool(field, wt)
        case 15: time = try r.readInt64(field, wt)
        case 16: stream = try r.readBool(field, wt)
        case 17: refresh = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.Metadata`: the metadata record of every WAL segment (which member of which
/// cluster wrote it). Named `WALMetadata` in Swift, for what it is.
public struct WALMetadata: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.Metadata" }

    public var nodeID: UInt64 = 0
    public var clusterID: UInt64 = 0

    public init() {}

    public init(nodeID: UInt64, clusterID: UInt64) {
        self.nodeID = nodeID
        self.clusterID = clusterID
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64Always(1, nodeID)
        w.writeUInt64Always(2, clusterID)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: nodeID = try r.readUInt64(field, wt)
        case 2: clusterID = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
