/// `authpb.Permission`: access to one key or key range.
public struct Permission: NamedProtoMessage {
    public static var protoMessageName: String { "authpb.Permission" }

    /// `Permission.Type`.
    public enum PermissionType: Int32, Sendable { case read = 0, write = 1, readWrite = 2 }

    public var permTypeRaw: Int32 = 0
    public var key: [UInt8] = []
    /// Empty: only `key`; "\0": every key from `key` on; otherwise the half-open [key, rangeEnd).
    public var rangeEnd: [UInt8] = []

    public var permType: PermissionType? { PermissionType(rawValue: permTypeRaw) }

    public init() {}

    public init(permType: PermissionType, key: [UInt8], rangeEnd: [UInt8] = []) {
        self.permTypeRaw = permType.rawValue
        self.key = key
        self.rangeEnd = rangeEnd
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, permTypeRaw)
        w.writeBytes(2, key)
        w.writeBytes(3, rangeEnd)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: permTypeRaw = try r.readEnum(field, wt)
        case 2: key = try r.readBytes(field, wt)
        case 3: rangeEnd = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `authpb.Role`: a role record as the auth store keeps it (etcd's `authRoles` bucket).
public struct Role: NamedProtoMessage {
    public static var protoMessageName: String { "authpb.Role" }

    public var name: [UInt8] = []
    public var keyPermission: [Permission] = []

    public init() {}

    public init(name: [UInt8], keyPermission: [Permission] = []) {
        self.name = name
        self.keyPermission = keyPermission
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
        w.writeRepeatedMessages(2, keyPermission)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        case 2: keyPermission.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
