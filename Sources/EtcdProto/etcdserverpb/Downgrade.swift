// Cluster downgrade (`Maintenance.Downgrade`, etcd 3.5): validate a target version, enable the
// downgrade (replicated as `membershippb.DowngradeInfoSetRequest`), or cancel it.

/// `etcdserverpb.DowngradeRequest`.
public struct DowngradeRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DowngradeRequest" }

    /// `DowngradeRequest.DowngradeAction`.
    public enum DowngradeAction: Int32, Sendable { case validate = 0, enable = 1, cancel = 2 }

    public var actionRaw: Int32 = 0
    /// Target version, "major.minor".
    public var version: String = ""

    public var action: DowngradeAction? { DowngradeAction(rawValue: actionRaw) }

    public init() {}

    public init(action: DowngradeAction, version: String = "") {
        self.actionRaw = action.rawValue
        self.version = version
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, actionRaw)
        w.writeString(2, version)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: actionRaw = try r.readEnum(field, wt)
        case 2: version = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.DowngradeResponse`.
public struct DowngradeResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DowngradeResponse" }

    public var header: ResponseHeader? = nil
    /// The cluster version.
    public var version: String = ""

    public init() {}

    public init(header: ResponseHeader?, version: String) {
        self.header = header
        self.version = version
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeString(2, version)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: version = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.DowngradeVersionTestRequest` (etcd 3.6): a test hook carried in
/// `InternalRaftRequest`; a member that does not know it must still decode the entry.
public struct DowngradeVersionTestRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DowngradeVersionTestRequest" }

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
