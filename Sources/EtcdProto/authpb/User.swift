/// `authpb.UserAddOptions`: options given when a user is created (etcd 3.4+).
public struct UserAddOptions: NamedProtoMessage {
    public static var protoMessageName: String { "authpb.UserAddOptions" }

    /// The user authenticates only with a client certificate; it has no password.
    public var noPassword: Bool = false

    public init() {}

    public init(noPassword: Bool) {
        self.noPassword = noPassword
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBool(1, noPassword)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: noPassword = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `authpb.User`: a user record as the auth store keeps it (etcd's `authUsers` bucket).
public struct User: NamedProtoMessage {
    public static var protoMessageName: String { "authpb.User" }

    public var name: [UInt8] = []
    /// bcrypt hash of the password; empty for a user added with `noPassword`.
    public var password: [UInt8] = []
    public var roles: [String] = []
    public var options: UserAddOptions? = nil

    public init() {}

    public init(name: [UInt8], password: [UInt8] = [], roles: [String] = [], options: UserAddOptions? = nil) {
        self.name = name
        self.password = password
        self.roles = roles
        self.options = options
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, name)
        w.writeBytes(2, password)
        for role in roles { w.writeStringAlways(3, role) }
        w.writeMessage(4, options)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readBytes(field, wt)
        case 2: password = try r.readBytes(field, wt)
        case 3: roles.append(try r.readString(field, wt))
        case 4: options = try .merging(options, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
