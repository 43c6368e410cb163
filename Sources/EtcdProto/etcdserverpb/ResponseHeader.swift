/// `etcdserverpb.ResponseHeader`: carried by every response.
public struct ResponseHeader: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.ResponseHeader" }

    public var clusterID: UInt64 = 0
    public var memberID: UInt64 = 0
    /// The store's revision when the request was applied (Kubernetes' resourceVersion).
    public var revision: Int64 = 0
    public var raftTerm: UInt64 = 0

    public init() {}

    public init(clusterID: UInt64, memberID: UInt64, revision: Int64, raftTerm: UInt64) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.revision = revision
        self.raftTerm = raftTerm
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, clusterID)
        w.writeUInt64(2, memberID)
        w.writeInt64(3, revision)
        w.writeUInt64(4, raftTerm)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: clusterID = try r.readUInt64(field, wt)
        case 2: memberID = try r.readUInt64(field, wt)
        case 3: revision = try r.readInt64(field, wt)
        case 4: raftTerm = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
