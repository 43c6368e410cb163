/// `etcdserverpb.CompactionRequest`: discards history before a revision (KV.Compact).
public struct CompactionRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.CompactionRequest" }

    /// Versions older than this revision go; the latest version of each key stays.
    public var revision: Int64 = 0
    /// Answer only once the backend has carried the compaction out.
    public var physical: Bool = false

    public init() {}

    public init(revision: Int64, physical: Bool = false) {
        self.revision = revision
        self.physical = physical
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, revision)
        w.writeBool(2, physical)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: revision = try r.readInt64(field, wt)
        case 2: physical = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.CompactionResponse`.
public struct CompactionResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.CompactionResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}
