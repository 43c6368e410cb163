// The payload of every normal raft log entry (etcd's raft_internal.proto). etcd members replicate
// these between each other, so the encoding must be byte-compatible for a swetcd member to join
// an etcd cluster.

/// `etcdserverpb.RequestHeader`: identifies a proposal and the user it runs for.
public struct RequestHeader: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.RequestHeader" }

    /// Proposal ID; the proposer waits on it for the apply result.
    public var id: UInt64 = 0
    /// Authenticated user; empty when auth is off.
    public var username: String = ""
    /// Auth store revision at which permissions were checked; the apply checks again if it moved.
    public var authRevision: UInt64 = 0

    public init() {}

    public init(id: UInt64, username: String = "", authRevision: UInt64 = 0) {
        self.id = id
        self.username = username
        self.authRevision = authRevision
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
        w.writeString(2, username)
        w.writeUInt64(3, authRevision)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: username = try r.readString(field, wt)
        case 3: authRevision = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.InternalRaftRequest`: one replicated request.
///
/// etcd sets exactly one request field per proposal, but the message is not a oneof: a decoder
/// keeps every field that arrives, and `encode` writes every field that is set, in field-number
/// order (`header`, number 100, comes after the 3.4 requests and before the auth ones).
public struct InternalRaftRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.InternalRaftRequest" }

    public var header: RequestHeader? = nil
    public var id: UInt64 = 0

    /// A v2 store request: etcd 3.4/3.5 publish member attributes and the cluster version this way.
    public var v2: V2Request? = nil
    public var range: RangeRequest? = nil
    public var put: PutRequest? = nil
    public var deleteRange: DeleteRangeRequest? = nil
    public var txn: TxnRequest? = nil
    public var compaction: CompactionRequest? = nil
    public var leaseGrant: LeaseGrantRequest? = nil
    public var leaseRevoke: LeaseRevokeRequest? = nil
    public var alarm: AlarmRequest? = nil
    public var leaseCheckpoint: LeaseCheckpointRequest? = nil

    public var authEnable: AuthEnableRequest? = nil
    public var authDisable: AuthDisableRequest? = nil
    public var authenticate: InternalAuthenticateRequest? = nil
    public var authStatus: AuthStatusRequest? = nil

    public var authUserAdd: AuthUserAddRequest? = nil
    public var authUserDelete: AuthUserDeleteRequest? = nil
    public var authUserGet: AuthUserGetRequest? = nil
    public var authUserChangePassword: AuthUserChangePasswordRequest? = nil
    public var authUserGrantRole: AuthUserGrantRoleRequest? = nil
    public var authUserRevokeRole: AuthUserRevokeRoleRequest? = nil
    public var authUserList: AuthUserListRequest? = nil
    public var authRoleList: AuthRoleListRequest? = nil

    public var authRoleAdd: AuthRoleAddRequest? = nil
    public var authRoleDelete: AuthRoleDeleteRequest? = nil
    public var authRoleGet: AuthRoleGetRequest? = nil
    public var authRoleGrantPermission: AuthRoleGrantPermissionRequest? = nil
    public var authRoleRevokePermission: AuthRoleRevokePermissionRequest? = nil

    /// etcd 3.5 membership requests.
    public var clusterVersionSet: ClusterVersionSetRequest? = nil
    public var clusterMemberAttrSet: ClusterMemberAttrSetRequest? = nil
    public var downgradeInfoSet: DowngradeInfoSetRequest? = nil

    /// etcd 3.6 test hook.
    public var downgradeVersionTest: DowngradeVersionTestRequest? = nil

    public init() {}

    public init(header: RequestHeader?, id: UInt64 = 0) {
        self.header = header
        self.id = id
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, id)
        w.writeMessage(2, v2)
        w.writeMessage(3, range)
        w.writeMessage(4, put)
        w.writeMessage(5, deleteRange)
        w.writeMessage(6, txn)
        w.writeMessage(7, compaction)
        w.writeMessage(8, leaseGrant)
        w.writeMessage(9, leaseRevoke)
        w.writeMessage(10, alarm)
        w.writeMessage(11, leaseCheckpoint)
        w.writeMessage(100, header)
        w.writeMessage(1000, authEnable)
        w.writeMessage(1011, authDisable)
        w.writeMessage(1012, authenticate)
        w.writeMessage(1013, authStatus)
        w.writeMessage(1100, authUserAdd)
        w.writeMessage(1101, authUserDelete)
        w.writeMessage(1102, authUserGet)
        w.writeMessage(1103, authUserChangePassword)
        w.writeMessage(1104, authUserGrantRole)
        w.writeMessage(1105, authUserRevokeRole)
        w.writeMessage(1106, authUserList)
        w.writeMessage(1107, authRoleList)
        w.writeMessage(1200, authRoleAdd)
        w.writeMessage(1201, authRoleDelete)
        w.writeMessage(1202, authRoleGet)
        w.writeMessage(1203, authRoleGrantPermission)
        w.writeMessage(1204, authRoleRevokePermission)
        w.writeMessage(1300, clusterVersionSet)
        w.writeMessage(1301, clusterMemberAttrSet)
        w.writeMessage(1302, downgradeInfoSet)
        w.writeMessage(9900, downgradeVersionTest)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: v2 = try .merging(v2, from: &r, field: field, wireType: wt)
        case 3: range = try .merging(range, from: &r, field: field, wireType: wt)
        case 4: put = try .merging(put, from: &r, field: field, wireType: wt)
        case 5: deleteRange = try .merging(deleteRange, from: &r, field: field, wireType: wt)
        case 6: txn = try .merging(txn, from: &r, field: field, wireType: wt)
        case 7: compaction = try .merging(compaction, from: &r, field: field, wireType: wt)
        case 8: leaseGrant = try .merging(leaseGrant, from: &r, field: field, wireType: wt)
        case 9: leaseRevoke = try .merging(leaseRevoke, from: &r, field: field, wireType: wt)
        case 10: alarm = try .merging(alarm, from: &r, field: field, wireType: wt)
        case 11: leaseCheckpoint = try .merging(leaseCheckpoint, from: &r, field: field, wireType: wt)
        case 100: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 1000: authEnable = try .merging(authEnable, from: &r, field: field, wireType: wt)
        case 1011: authDisable = try .merging(authDisable, from: &r, field: field, wireType: wt)
        case 1012: authenticate = try .merging(authenticate, from: &r, field: field, wireType: wt)
        case 1013: authStatus = try .merging(authStatus, from: &r, field: field, wireType: wt)
        case 1100: authUserAdd = try .merging(authUserAdd, from: &r, field: field, wireType: wt)
        case 1101: authUserDelete = try .merging(authUserDelete, from: &r, field: field, wireType: wt)
        case 1102: authUserGet = try .merging(authUserGet, from: &r, field: field, wireType: wt)
        case 1103: authUserChangePassword = try .merging(authUserChangePassword, from: &r, field: field, wireType: wt)
        case 1104: authUserGrantRole = try .merging(authUserGrantRole, from: &r, field: field, wireType: wt)
        case 1105: authUserRevokeRole = try .merging(authUserRevokeRole, from: &r, field: field, wireType: wt)
        case 1106: authUserList = try .merging(authUserList, from: &r, field: field, wireType: wt)
        case 1107: authRoleList = try .merging(authRoleList, from: &r, field: field, wireType: wt)
        case 1200: authRoleAdd = try .merging(authRoleAdd, from: &r, field: field, wireType: wt)
        case 1201: authRoleDelete = try .merging(authRoleDelete, from: &r, field: field, wireType: wt)
        case 1202: authRoleGet = try .merging(authRoleGet, from: &r, field: field, wireType: wt)
        case 1203: authRoleGrantPermission = try .merging(authRoleGrantPermission, from: &r, field: field, wireType: wt)
        case 1204: authRoleRevokePermission = try .merging(authRoleRevokePermission, from: &r, field: field, wireType: wt)
        case 1300: clusterVersionSet = try .merging(clusterVersionSet, from: &r, field: field, wireType: wt)
        case 1301: clusterMemberAttrSet = try .merging(clusterMemberAttrSet, from: &r, field: field, wireType: wt)
        case 1302: downgradeInfoSet = try .merging(downgradeInfoSet, from: &r, field: field, wireType: wt)
        case 9900: downgradeVersionTest = try .merging(downgradeVersionTest, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.EmptyResponse`.
public struct EmptyResponse: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.EmptyResponse" }
    public init() {}
}

/// `etcdserverpb.InternalAuthenticateRequest`: an Authenticate, as proposed after the password
/// was checked. `simpleToken` is the token the proposer minted, so every member stores the same.
public struct InternalAuthenticateRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.InternalAuthenticateRequest" }

    public var name: String = ""
    /// etcd leaves it empty, so that no password reaches the WAL.
    public var password: String = ""
    public var simpleToken: String = ""

    public init() {}

    public init(name: String, password: String = "", simpleToken: String) {
        self.name = name
        self.password = password
        self.simpleToken = simpleToken
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, name)
        w.writeString(2, password)
        w.writeString(3, simpleToken)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: name = try r.readString(field, wt)
        case 2: password = try r.readString(field, wt)
        case 3: simpleToken = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}
