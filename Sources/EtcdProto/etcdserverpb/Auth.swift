// Messages of the `etcdserverpb.Auth` service. Every mutation is replicated through raft (the
// requests are `InternalRaftRequest` fields 1000–1204); `Authenticate` is proposed as an
// `InternalAuthenticateRequest` so every member stores the same token.

// MARK: enable, disable, status, authenticate

/// `etcdserverpb.AuthEnableRequest`.
public struct AuthEnableRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthEnableRequest" }
    public init() {}
}

/// `etcdserverpb.AuthEnableResponse`.
public struct AuthEnableResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthEnableResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthDisableRequest`.
public struct AuthDisableRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthDisableRequest" }
    public init() {}
}

/// `etcdserverpb.AuthDisableResponse`.
public struct AuthDisableResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthDisableResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthStatusRequest` (etcd 3.5).
public struct AuthStatusRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthStatusRequest" }
    public init() {}
}

/// `etcdserverpb.AuthStatusResponse` (etcd 3.5).
public struct AuthStatusResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthStatusResponse" }

    public var header: ResponseHeader? = nil
    public var enabled: Bool = false
    /// Revision of the auth store; every auth mutation increments it.
    public var authRevision: UInt64 = 0

    public init() {}

    public init(header: ResponseHeader?, enabled: Bool, authRevision: UInt64) {
        self.header = header
        self.enabled = enabled
        self.authRevision = authRevision
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeBool(2, enabled)
        w.writeUInt64(3, authRevision)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: enabled = try r.readBool(field, wt)
        case 3: authRevision = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthenticateRequest`.
public struct AuthenticateRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthenticateRequest" }

    public var name: String = ""
    public var password: String = ""

    public init() {}

    public init(name: String, password: String) {
        self.name = name
        self.password = password
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeString(2, password)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: password = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthenticateResponse`.
public struct AuthenticateResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthenticateResponse" }

    public var header: ResponseHeader? = nil
    /// The token clients send back in the `token` metadata.
    public var token: String = ""

    public init() {}

    public init(header: ResponseHeader?, token: String) {
        self.header = header
        self.token = token
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeString(2, token)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: token = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

// MARK: users

/// `etcdserverpb.AuthUserAddRequest`.
public struct AuthUserAddRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserAddRequest" }

    public var name: String = ""
    public var password: String = ""
    public var options: UserAddOptions? = nil
    /// etcd 3.5: the password already hashed by the client; `password` is then empty.
    public var hashedPassword: String = ""

    public init() {}

    public init(name: String, password: String = "", options: UserAddOptions? = nil, hashedPassword: String = "") {
        self.name = name
        self.password = password
        self.options = options
        self.hashedPassword = hashedPassword
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeString(2, password)
        w.writeMessage(3, options)
        w.writeString(4, hashedPassword)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: password = try r.readString(field, wt)
        case 3: options = try .merging(options, from: &r, field: field, wireType: wt)
        case 4: hashedPassword = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserAddResponse`.
public struct AuthUserAddResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthUserAddResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthUserGetRequest`.
public struct AuthUserGetRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserGetRequest" }

    public var name: String = ""

    public init() {}

    public init(name: String) {
        self.name = name
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserGetResponse`.
public struct AuthUserGetResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserGetResponse" }

    public var header: ResponseHeader? = nil
    public var roles: [String] = []

    public init() {}

    public init(header: ResponseHeader?, roles: [String]) {
        self.header = header
        self.roles = roles
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        for role in roles { w.writeStringAlways(2, role) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: roles.append(try r.readString(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserListRequest`.
public struct AuthUserListRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserListRequest" }
    public init() {}
}

/// `etcdserverpb.AuthUserListResponse`.
public struct AuthUserListResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserListResponse" }

    public var header: ResponseHeader? = nil
    public var users: [String] = []

    public init() {}

    public init(header: ResponseHeader?, users: [String]) {
        self.header = header
        self.users = users
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        for user in users { w.writeStringAlways(2, user) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: users.append(try r.readString(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserDeleteRequest`.
public struct AuthUserDeleteRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserDeleteRequest" }

    public var name: String = ""

    public init() {}

    public init(name: String) {
        self.name = name
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserDeleteResponse`.
public struct AuthUserDeleteResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthUserDeleteResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthUserChangePasswordRequest`.
public struct AuthUserChangePasswordRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserChangePasswordRequest" }

    public var name: String = ""
    public var password: String = ""
    /// etcd 3.5: the new password already hashed by the client.
    public var hashedPassword: String = ""

    public init() {}

    public init(name: String, password: String = "", hashedPassword: String = "") {
        self.name = name
        self.password = password
        self.hashedPassword = hashedPassword
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeString(2, password)
        w.writeString(3, hashedPassword)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: password = try r.readString(field, wt)
        case 3: hashedPassword = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserChangePasswordResponse`.
public struct AuthUserChangePasswordResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthUserChangePasswordResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthUserGrantRoleRequest`.
public struct AuthUserGrantRoleRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserGrantRoleRequest" }

    public var user: String = ""
    public var role: String = ""

    public init() {}

    public init(user: String, role: String) {
        self.user = user
        self.role = role
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, user)
        w.writeString(2, role)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: user = try r.readString(field, wt)
        case 2: role = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserGrantRoleResponse`.
public struct AuthUserGrantRoleResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthUserGrantRoleResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthUserRevokeRoleRequest`. (The user field is `name` here, `user` in the grant.)
public struct AuthUserRevokeRoleRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthUserRevokeRoleRequest" }

    public var name: String = ""
    public var role: String = ""

    public init() {}

    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeString(2, role)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: role = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthUserRevokeRoleResponse`.
public struct AuthUserRevokeRoleResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthUserRevokeRoleResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

// MARK: roles

/// `etcdserverpb.AuthRoleAddRequest`.
public struct AuthRoleAddRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleAddRequest" }

    public var name: String = ""

    public init() {}

    public init(name: String) {
        self.name = name
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleAddResponse`.
public struct AuthRoleAddResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleAddResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthRoleGetRequest`.
public struct AuthRoleGetRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleGetRequest" }

    public var role: String = ""

    public init() {}

    public init(role: String) {
        self.role = role
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, role)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: role = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleGetResponse`.
public struct AuthRoleGetResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleGetResponse" }

    public var header: ResponseHeader? = nil
    public var perm: [Permission] = []

    public init() {}

    public init(header: ResponseHeader?, perm: [Permission]) {
        self.header = header
        self.perm = perm
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeRepeatedMessages(2, perm)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: perm.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleListRequest`.
public struct AuthRoleListRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleListRequest" }
    public init() {}
}

/// `etcdserverpb.AuthRoleListResponse`.
public struct AuthRoleListResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleListResponse" }

    public var header: ResponseHeader? = nil
    public var roles: [String] = []

    public init() {}

    public init(header: ResponseHeader?, roles: [String]) {
        self.header = header
        self.roles = roles
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        for role in roles { w.writeStringAlways(2, role) }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: roles.append(try r.readString(field, wt))
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleDeleteRequest`.
public struct AuthRoleDeleteRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleDeleteRequest" }

    public var role: String = ""

    public init() {}

    public init(role: String) {
        self.role = role
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, role)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: role = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleDeleteResponse`.
public struct AuthRoleDeleteResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleDeleteResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthRoleGrantPermissionRequest`.
public struct AuthRoleGrantPermissionRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleGrantPermissionRequest" }

    /// The role's name.
    public var name: String = ""
    public var perm: Permission? = nil

    public init() {}

    public init(name: String, perm: Permission?) {
        self.name = name
        self.perm = perm
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeMessage(2, perm)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: perm = try .merging(perm, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleGrantPermissionResponse`.
public struct AuthRoleGrantPermissionResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleGrantPermissionResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.AuthRoleRevokePermissionRequest`.
public struct AuthRoleRevokePermissionRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleRevokePermissionRequest" }

    public var role: String = ""
    public var key: [UInt8] = []
    public var rangeEnd: [UInt8] = []

    public init() {}

    public init(role: String, key: [UInt8], rangeEnd: [UInt8] = []) {
        self.role = role
        self.key = key
        self.rangeEnd = rangeEnd
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, role)
        w.writeBytes(2, key)
        w.writeBytes(3, rangeEnd)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: role = try r.readString(field, wt)
        case 2: key = try r.readBytes(field, wt)
        case 3: rangeEnd = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AuthRoleRevokePermissionResponse`.
public struct AuthRoleRevokePermissionResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.AuthRoleRevokePermissionResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}
