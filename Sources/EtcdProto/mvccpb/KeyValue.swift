/// `mvccpb.KeyValue` (etcd `mvcc/mvccpb/kv.proto`).
public struct KeyValue: NamedProtoMessage {
    public static var protoMessageName: String { "mvccpb.KeyValue" }

    public var key: [UInt8] = []
    /// Revision of the last creation of this key (0 once deleted).
    public var createRevision: Int64 = 0
    /// Revision of the last modification of this key.
    public var modRevision: Int64 = 0
    /// Number of modifications since creation; a delete resets it to 0.
    public var version: Int64 = 0
    public var value: [UInt8] = []
    /// Attached lease ID, 0 for none.
    public var lease: Int64 = 0

    public init() {}

    public init(key: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0, value: [UInt8] = [], lease: Int64 = 0) {
        self.key = key
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.value = value
        self.lease = lease
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, key)
        w.writeInt64(2, createRevision)
        w.writeInt64(3, modRevision)
        w.writeInt64(4, version)
        w.writeBytes(5, value)
        w.writeInt64(6, lease)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: key = try r.readBytes(field, wt)
        case 2: createRevision = try r.readInt64(field, wt)
        case 3: modRevision = try r.readInt64(field, wt)
        case 4: version = try r.readInt64(field, wt)
        case 5: value = try r.readBytes(field, wt)
        case 6: lease = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
