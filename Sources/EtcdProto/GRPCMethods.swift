/// How many messages each side of a gRPC method sends.
public enum GRPCMethodKind: String, Sendable, CaseIterable {
    /// One request, one response.
    case unary
    /// One request, a stream of responses.
    case serverStreaming
    /// A stream of requests, one response.
    case clientStreaming
    /// Streams both ways.
    case bidirectional
}

/// Every gRPC method swetcd must answer, etcd's and gRPC's health service, one case each; the
/// raw value is the HTTP/2 `:path` (`/package.Service/Method`).
///
/// The transport routes with `GRPCMethod.byPath` and answers UNIMPLEMENTED for a method no handler
/// serves yet (COMPAT.md: never hang). Each case knows its kind and its request and response types,
/// so framing and decoding can be checked against the table, never re-typed by hand.
public enum GRPCMethod: String, Sendable, CaseIterable {
    // etcdserverpb.KV
    case kvRange = "/etcdserverpb.KV/Range"
    case kvRangeStream = "/etcdserverpb.KV/RangeStream"
    case kvPut = "/etcdserverpb.KV/Put"
    case kvDeleteRange = "/etcdserverpb.KV/DeleteRange"
    case kvTxn = "/etcdserverpb.KV/Txn"
    case kvCompact = "/etcdserverpb.KV/Compact"
    // etcdserverpb.Watch
    case watch = "/etcdserverpb.Watch/Watch"
    // etcdserverpb.Lease
    case leaseGrant = "/etcdserverpb.Lease/LeaseGrant"
    case leaseRevoke = "/etcdserverpb.Lease/LeaseRevoke"
    case leaseKeepAlive = "/etcdserverpb.Lease/LeaseKeepAlive"
    case leaseTimeToLive = "/etcdserverpb.Lease/LeaseTimeToLive"
    case leaseLeases = "/etcdserverpb.Lease/LeaseLeases"
    // etcdserverpb.Cluster
    case memberAdd = "/etcdserverpb.Cluster/MemberAdd"
    case memberRemove = "/etcdserverpb.Cluster/MemberRemove"
    case memberUpdate = "/etcdserverpb.Cluster/MemberUpdate"
    case memberList = "/etcdserverpb.Cluster/MemberList"
    case memberPromote = "/etcdserverpb.Cluster/MemberPromote"
    // etcdserverpb.Maintenance
    case alarm = "/etcdserverpb.Maintenance/Alarm"
    case status = "/etcdserverpb.Maintenance/Status"
    case defragment = "/etcdserverpb.Maintenance/Defragment"
    case hashBackend = "/etcdserverpb.Maintenance/Hash"
    case hashKV = "/etcdserverpb.Maintenance/HashKV"
    case snapshot = "/etcdserverpb.Maintenance/Snapshot"
    case moveLeader = "/etcdserverpb.Maintenance/MoveLeader"
    case downgrade = "/etcdserverpb.Maintenance/Downgrade"
    // etcdserverpb.Auth
    case authEnable = "/etcdserverpb.Auth/AuthEnable"
    case authDisable = "/etcdserverpb.Auth/AuthDisable"
    case authStatus = "/etcdserverpb.Auth/AuthStatus"
    case authenticate = "/etcdserverpb.Auth/Authenticate"
    case userAdd = "/etcdserverpb.Auth/UserAdd"
    case userGet = "/etcdserverpb.Auth/UserGet"
    case userList = "/etcdserverpb.Auth/UserList"
    case userDelete = "/etcdserverpb.Auth/UserDelete"
    case userChangePassword = "/etcdserverpb.Auth/UserChangePassword"
    case userGrantRole = "/etcdserverpb.Auth/UserGrantRole"
    case userRevokeRole = "/etcdserverpb.Auth/UserRevokeRole"
    case roleAdd = "/etcdserverpb.Auth/RoleAdd"
    case roleGet = "/etcdserverpb.Auth/RoleGet"
    case roleList = "/etcdserverpb.Auth/RoleList"
    case roleDelete = "/etcdserverpb.Auth/RoleDelete"
    case roleGrantPermission = "/etcdserverpb.Auth/RoleGrantPermission"
    case roleRevokePermission = "/etcdserverpb.Auth/RoleRevokePermission"
    // v3lockpb.Lock
    case lock = "/v3lockpb.Lock/Lock"
    case unlock = "/v3lockpb.Lock/Unlock"
    // v3electionpb.Election
    case campaign = "/v3electionpb.Election/Campaign"
    case proclaim = "/v3electionpb.Election/Proclaim"
    case leader = "/v3electionpb.Election/Leader"
    case observe = "/v3electionpb.Election/Observe"
    case resign = "/v3electionpb.Election/Resign"
    // grpc.health.v1.Health
    case healthCheck = "/grpc.health.v1.Health/Check"
    case healthWatch = "/grpc.health.v1.Health/Watch"
    case healthList = "/grpc.health.v1.Health/List"

    /// The full path, as in the HTTP/2 `:path` header.
    public var path: String { rawValue }

    /// Fully qualified service name: `etcdserverpb.KV`.
    public var service: Substring {
        let path = rawValue.dropFirst()
        return path[..<path.lastIndex(of: "/")!]
    }

    /// Method name: `Range`.
    public var name: Substring {
        rawValue[rawValue.index(after: rawValue.lastIndex(of: "/")!)...]
    }

    /// The method for an HTTP/2 `:path`, or nil (answer UNIMPLEMENTED). One hash lookup.
    public static func byPath(_ path: String) -> GRPCMethod? { table[path] }

    private static let table: [String: GRPCMethod] = {
        var table: [String: GRPCMethod] = [:]
        table.reserveCapacity(allCases.count)
        for method in allCases { table[method.rawValue] = method }
        return table
    }()

    /// Fully qualified service names, in declaration order (for the health service and
    /// reflection-like listings).
    public static var services: [Substring] {
        var seen: [Substring] = []
        for method in allCases where seen.last != method.service { seen.append(method.service) }
        return seen
    }

    public var kind: GRPCMethodKind {
        switch self {
        case .watch, .leaseKeepAlive: .bidirectional
        case .kvRangeStream, .snapshot, .observe, .healthWatch: .serverStreaming
        default: .unary
        }
    }

    /// The request message type.
    public var requestType: any NamedProtoMessage.Type {
        switch self {
        case .kvRange, .kvRangeStream: RangeRequest.self
        case .kvPut: PutRequest.self
        case .kvDeleteRange: DeleteRangeRequest.self
        case .kvTxn: TxnRequest.self
        case .kvCompact: CompactionRequest.self
        case .watch: WatchRequest.self
        case .leaseGrant: LeaseGrantRequest.self
        case .leaseRevoke: LeaseRevokeRequest.self
        case .leaseKeepAlive: LeaseKeepAliveRequest.self
        case .leaseTimeToLive: LeaseTimeToLiveRequest.self
        case .leaseLeases: LeaseLeasesRequest.self
        case .memberAdd: MemberAddRequest.self
        case .memberRemove: MemberRemoveRequest.self
        case .memberUpdate: MemberUpdateRequest.self
        case .memberList: MemberListRequest.self
        case .memberPromote: MemberPromoteRequest.self
        case .alarm: AlarmRequest.self
        case .status: StatusRequest.self
        case .defragment: DefragmentRequest.self
        case .hashBackend: HashRequest.self
        case .hashKV: HashKVRequest.self
        case .snapshot: SnapshotRequest.self
        case .moveLeader: MoveLeaderRequest.self
        case .downgrade: DowngradeRequest.self
        case .authEnable: AuthEnableRequest.self
        case .authDisable: AuthDisableRequest.self
        case .authStatus: AuthStatusRequest.self
        case .authenticate: AuthenticateRequest.self
        case .userAdd: AuthUserAddRequest.self
        case .userGet: AuthUserGetRequest.self
        case .userList: AuthUserListRequest.self
        case .userDelete: AuthUserDeleteRequest.self
        case .userChangePassword: AuthUserChangePasswordRequest.self
        case .userGrantRole: AuthUserGrantRoleRequest.self
        case .userRevokeRole: AuthUserRevokeRoleRequest.self
        case .roleAdd: AuthRoleAddRequest.self
        case .roleGet: AuthRoleGetRequest.self
        case .roleList: AuthRoleListRequest.self
        case .roleDelete: AuthRoleDeleteRequest.self
        case .roleGrantPermission: AuthRoleGrantPermissionRequest.self
        case .roleRevokePermission: AuthRoleRevokePermissionRequest.self
        case .lock: LockRequest.self
        case .unlock: UnlockRequest.self
        case .campaign: CampaignRequest.self
        case .proclaim: ProclaimRequest.self
        case .leader, .observe: LeaderRequest.self
        case .resign: ResignRequest.self
        case .healthCheck, .healthWatch: HealthCheckRequest.self
        case .healthList: HealthListRequest.self
        }
    }

    /// The response message type (of each message, for a streaming method).
    public var responseType: any NamedProtoMessage.Type {
        switch self {
        case .kvRange: RangeResponse.self
        case .kvRangeStream: RangeStreamResponse.self
        case .kvPut: PutResponse.self
        case .kvDeleteRange: DeleteRangeResponse.self
        case .kvTxn: TxnResponse.self
        case .kvCompact: CompactionResponse.self
        case .watch: WatchResponse.self
        case .leaseGrant: LeaseGrantResponse.self
        case .leaseRevoke: LeaseRevokeResponse.self
        case .leaseKeepAlive: LeaseKeepAliveResponse.self
        case .leaseTimeToLive: LeaseTimeToLiveResponse.self
        case .leaseLeases: LeaseLeasesResponse.self
        case .memberAdd: MemberAddResponse.self
        case .memberRemove: MemberRemoveResponse.self
        case .memberUpdate: MemberUpdateResponse.self
        case .memberList: MemberListResponse.self
        case .memberPromote: MemberPromoteResponse.self
        case .alarm: AlarmResponse.self
        case .status: StatusResponse.self
        case .defragment: DefragmentResponse.self
        case .hashBackend: HashResponse.self
        case .hashKV: HashKVResponse.self
        case .snapshot: SnapshotResponse.self
        case .moveLeader: MoveLeaderResponse.self
        case .downgrade: DowngradeResponse.self
        case .authEnable: AuthEnableResponse.self
        case .authDisable: AuthDisableResponse.self
        case .authStatus: AuthStatusResponse.self
        case .authenticate: AuthenticateResponse.self
        case .userAdd: AuthUserAddResponse.self
        case .userGet: AuthUserGetResponse.self
        case .userList: AuthUserListResponse.self
        case .userDelete: AuthUserDeleteResponse.self
        case .userChangePassword: AuthUserChangePasswordResponse.self
        case .userGrantRole: AuthUserGrantRoleResponse.self
        case .userRevokeRole: AuthUserRevokeRoleResponse.self
        case .roleAdd: AuthRoleAddResponse.self
        case .roleGet: AuthRoleGetResponse.self
        case .roleList: AuthRoleListResponse.self
        case .roleDelete: AuthRoleDeleteResponse.self
        case .roleGrantPermission: AuthRoleGrantPermissionResponse.self
        case .roleRevokePermission: AuthRoleRevokePermissionResponse.self
        case .lock: LockResponse.self
        case .unlock: UnlockResponse.self
        case .campaign: CampaignResponse.self
        case .proclaim: ProclaimResponse.self
        case .leader, .observe: LeaderResponse.self
        case .resign: ResignResponse.self
        case .healthCheck, .healthWatch: HealthCheckResponse.self
        case .healthList: HealthListResponse.self
        }
    }

    /// Fully qualified request message name: `etcdserverpb.RangeRequest`.
    public var requestTypeName: String { requestType.protoMessageName }

    /// Fully qualified response message name: `etcdserverpb.RangeResponse`.
    public var responseTypeName: String { responseType.protoMessageName }
}
