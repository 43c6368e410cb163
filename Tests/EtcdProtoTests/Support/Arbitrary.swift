import EtcdProto

// Seeded random instances of every message type (see `TestRandom`). Each generator sets every
// field, each with a fair chance of being its default, so the encoder's "skip defaults" rule and
// the decoder's merge rules are both exercised.

extension Arbitrary where Self: EmptyProtoMessage {
    static func arbitrary(_ g: inout TestRandom) -> Self { Self() }
}

extension Arbitrary where Self: HeaderOnlyResponse {
    static func arbitrary(_ g: inout TestRandom) -> Self { Self(header: g.message()) }
}

extension Arbitrary where Self: MemberListShapedResponse {
    static func arbitrary(_ g: inout TestRandom) -> Self { Self(header: g.message(), members: g.messages()) }
}

// MARK: mvccpb

extension KeyValue: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> KeyValue {
        KeyValue(key: g.bytes(), createRevision: g.int64(), modRevision: g.int64(), version: g.int64(), value: g.bytes(), lease: g.int64())
    }
}

extension Event: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Event {
        var m = Event()
        m.typeRaw = g.enumRaw(knownCount: 2)
        m.kv = g.message()
        m.prevKV = g.message()
        return m
    }
}

// MARK: authpb

extension UserAddOptions: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> UserAddOptions { UserAddOptions(noPassword: g.bool()) }
}

extension User: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> User {
        User(name: g.bytes(), password: g.bytes(), roles: g.strings(), options: g.message())
    }
}

extension Permission: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Permission {
        var m = Permission()
        m.permTypeRaw = g.enumRaw(knownCount: 3)
        m.key = g.bytes()
        m.rangeEnd = g.bytes()
        return m
    }
}

extension Role: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Role { Role(name: g.bytes(), keyPermission: g.messages()) }
}

// MARK: leasepb

extension Lease: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Lease { Lease(id: g.int64(), ttl: g.int64(), remainingTTL: g.int64()) }
}

extension LeaseInternalRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseInternalRequest { LeaseInternalRequest(leaseTimeToLiveRequest: g.message()) }
}

extension LeaseInternalResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseInternalResponse { LeaseInternalResponse(leaseTimeToLiveResponse: g.message()) }
}

// MARK: membershippb

extension RaftAttributes: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RaftAttributes { RaftAttributes(peerURLs: g.strings(), isLearner: g.bool()) }
}

extension Attributes: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Attributes { Attributes(name: g.string(), clientURLs: g.strings()) }
}

extension MembershipMember: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MembershipMember {
        MembershipMember(id: g.uint64(), raftAttributes: g.message(), memberAttributes: g.message())
    }
}

extension ClusterVersionSetRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ClusterVersionSetRequest { ClusterVersionSetRequest(ver: g.string()) }
}

extension ClusterMemberAttrSetRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ClusterMemberAttrSetRequest {
        ClusterMemberAttrSetRequest(memberID: g.uint64(), memberAttributes: g.message())
    }
}

extension DowngradeInfoSetRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DowngradeInfoSetRequest { DowngradeInfoSetRequest(enabled: g.bool(), ver: g.string()) }
}

// MARK: etcdserverpb KV

extension ResponseHeader: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ResponseHeader {
        ResponseHeader(clusterID: g.uint64(), memberID: g.uint64(), revision: g.int64(), raftTerm: g.uint64())
    }
}

extension RangeRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RangeRequest {
        var m = RangeRequest(key: g.bytes(), rangeEnd: g.bytes(), limit: g.int64(), revision: g.int64())
        m.sortOrderRaw = g.enumRaw(knownCount: 3)
        m.sortTargetRaw = g.enumRaw(knownCount: 5)
        m.serializable = g.bool()
        m.keysOnly = g.bool()
        m.countOnly = g.bool()
        m.minModRevision = g.int64()
        m.maxModRevision = g.int64()
        m.minCreateRevision = g.int64()
        m.maxCreateRevision = g.int64()
        return m
    }
}

extension RangeResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RangeResponse {
        RangeResponse(header: g.message(), kvs: g.messages(max: 5), more: g.bool(), count: g.int64())
    }
}

extension RangeStreamResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RangeStreamResponse { RangeStreamResponse(rangeResponse: g.message()) }
}

extension PutRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> PutRequest {
        PutRequest(key: g.bytes(), value: g.bytes(), lease: g.int64(), prevKV: g.bool(), ignoreValue: g.bool(), ignoreLease: g.bool())
    }
}

extension PutResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> PutResponse { PutResponse(header: g.message(), prevKV: g.message()) }
}

extension DeleteRangeRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DeleteRangeRequest {
        DeleteRangeRequest(key: g.bytes(), rangeEnd: g.bytes(), prevKV: g.bool())
    }
}

extension DeleteRangeResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DeleteRangeResponse {
        DeleteRangeResponse(header: g.message(), deleted: g.int64(), prevKVs: g.messages())
    }
}

extension Compare: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Compare {
        var m = Compare()
        m.resultRaw = g.enumRaw(knownCount: 4)
        m.targetRaw = g.enumRaw(knownCount: 5)
        m.key = g.bytes()
        switch g.below(7) {
        case 0: m.targetUnion = .version(g.int64())
        case 1: m.targetUnion = .createRevision(g.int64())
        case 2: m.targetUnion = .modRevision(g.int64())
        case 3: m.targetUnion = .value(g.bytes())
        case 4: m.targetUnion = .lease(g.int64())
        case 5: m.targetUnion = .modRevision(0)  // Kubernetes' create: the zero must be written
        default: m.targetUnion = nil
        }
        m.rangeEnd = g.bytes()
        return m
    }
}

extension RequestOp: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RequestOp {
        switch g.below(g.mayRecurse ? 5 : 4) {
        case 0: return RequestOp(nil)
        case 1: return RequestOp(.requestRange(g.nested { RangeRequest.arbitrary(&$0) }))
        case 2: return RequestOp(.requestPut(g.nested { PutRequest.arbitrary(&$0) }))
        case 3: return RequestOp(.requestDeleteRange(g.nested { DeleteRangeRequest.arbitrary(&$0) }))
        default: return RequestOp(.requestTxn(g.nested { TxnRequest.arbitrary(&$0) }))
        }
    }
}

extension ResponseOp: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ResponseOp {
        switch g.below(g.mayRecurse ? 5 : 4) {
        case 0: return ResponseOp(nil)
        case 1: return ResponseOp(.responseRange(g.nested { RangeResponse.arbitrary(&$0) }))
        case 2: return ResponseOp(.responsePut(g.nested { PutResponse.arbitrary(&$0) }))
        case 3: return ResponseOp(.responseDeleteRange(g.nested { DeleteRangeResponse.arbitrary(&$0) }))
        default: return ResponseOp(.responseTxn(g.nested { TxnResponse.arbitrary(&$0) }))
        }
    }
}

extension TxnRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> TxnRequest {
        TxnRequest(compare: g.messages(), success: g.messages(), failure: g.messages())
    }
}

extension TxnResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> TxnResponse {
        TxnResponse(header: g.message(), succeeded: g.bool(), responses: g.messages())
    }
}

extension CompactionRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> CompactionRequest { CompactionRequest(revision: g.int64(), physical: g.bool()) }
}

extension CompactionResponse: Arbitrary {}

// MARK: etcdserverpb Maintenance

extension HashRequest: Arbitrary {}

extension HashKVRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HashKVRequest { HashKVRequest(revision: g.int64()) }
}

extension HashKVResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HashKVResponse {
        HashKVResponse(header: g.message(), hash: g.uint32(), compactRevision: g.int64(), hashRevision: g.int64())
    }
}

extension HashResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HashResponse { HashResponse(header: g.message(), hash: g.uint32()) }
}

extension SnapshotRequest: Arbitrary {}

extension SnapshotResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> SnapshotResponse {
        SnapshotResponse(header: g.message(), remainingBytes: g.uint64(), blob: g.bytes(), version: g.string())
    }
}

extension MoveLeaderRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MoveLeaderRequest { MoveLeaderRequest(targetID: g.uint64()) }
}

extension MoveLeaderResponse: Arbitrary {}

extension AlarmRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AlarmRequest {
        var m = AlarmRequest()
        m.actionRaw = g.enumRaw(knownCount: 3)
        m.memberID = g.uint64()
        m.alarmRaw = g.enumRaw(knownCount: 3)
        return m
    }
}

extension AlarmMember: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AlarmMember {
        var m = AlarmMember()
        m.memberID = g.uint64()
        m.alarmRaw = g.enumRaw(knownCount: 3)
        return m
    }
}

extension AlarmResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AlarmResponse { AlarmResponse(header: g.message(), alarms: g.messages()) }
}

extension DowngradeRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DowngradeRequest {
        var m = DowngradeRequest()
        m.actionRaw = g.enumRaw(knownCount: 3)
        m.version = g.string()
        return m
    }
}

extension DowngradeResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DowngradeResponse { DowngradeResponse(header: g.message(), version: g.string()) }
}

extension DowngradeVersionTestRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DowngradeVersionTestRequest { DowngradeVersionTestRequest(ver: g.string()) }
}

extension StatusRequest: Arbitrary {}

extension StatusResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> StatusResponse {
        var m = StatusResponse()
        m.header = g.message()
        m.version = g.string()
        m.dbSize = g.int64()
        m.leader = g.uint64()
        m.raftIndex = g.uint64()
        m.raftTerm = g.uint64()
        m.raftAppliedIndex = g.uint64()
        m.errors = g.strings()
        m.dbSizeInUse = g.int64()
        m.isLearner = g.bool()
        m.storageVersion = g.string()
        m.dbSizeQuota = g.int64()
        m.downgradeInfo = g.message()
        return m
    }
}

extension DowngradeInfo: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> DowngradeInfo { DowngradeInfo(enabled: g.bool(), targetVersion: g.string()) }
}

extension DefragmentRequest: Arbitrary {}
extension DefragmentResponse: Arbitrary {}

// MARK: etcdserverpb Watch

extension WatchRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> WatchRequest {
        switch g.below(4) {
        case 0: return WatchRequest(nil)
        case 1: return WatchRequest(.createRequest(g.nested { WatchCreateRequest.arbitrary(&$0) }))
        case 2: return WatchRequest(.cancelRequest(g.nested { WatchCancelRequest.arbitrary(&$0) }))
        default: return WatchRequest(.progressRequest(WatchProgressRequest()))
        }
    }
}

extension WatchCreateRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> WatchCreateRequest {
        var m = WatchCreateRequest()
        m.key = g.bytes()
        m.rangeEnd = g.bytes()
        m.startRevision = g.int64()
        m.progressNotify = g.bool()
        m.filtersRaw = g.array { $0.enumRaw(knownCount: 2) }
        m.prevKV = g.bool()
        m.watchID = g.int64()
        m.fragment = g.bool()
        return m
    }
}

extension WatchCancelRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> WatchCancelRequest { WatchCancelRequest(watchID: g.int64()) }
}

extension WatchProgressRequest: Arbitrary {}

extension WatchResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> WatchResponse {
        WatchResponse(
            header: g.message(), watchID: g.int64(), created: g.bool(), canceled: g.bool(), compactRevision: g.int64(),
            cancelReason: g.string(), fragment: g.bool(), events: g.messages(max: 5))
    }
}

// MARK: etcdserverpb Lease

extension LeaseGrantRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseGrantRequest { LeaseGrantRequest(ttl: g.int64(), id: g.int64()) }
}

extension LeaseGrantResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseGrantResponse {
        LeaseGrantResponse(header: g.message(), id: g.int64(), ttl: g.int64(), error: g.string())
    }
}

extension LeaseRevokeRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseRevokeRequest { LeaseRevokeRequest(id: g.int64()) }
}

extension LeaseRevokeResponse: Arbitrary {}

extension LeaseCheckpoint: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseCheckpoint { LeaseCheckpoint(id: g.int64(), remainingTTL: g.int64()) }
}

extension LeaseCheckpointRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseCheckpointRequest { LeaseCheckpointRequest(checkpoints: g.messages()) }
}

extension LeaseCheckpointResponse: Arbitrary {}

extension LeaseKeepAliveRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseKeepAliveRequest { LeaseKeepAliveRequest(id: g.int64()) }
}

extension LeaseKeepAliveResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseKeepAliveResponse {
        LeaseKeepAliveResponse(header: g.message(), id: g.int64(), ttl: g.int64())
    }
}

extension LeaseTimeToLiveRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseTimeToLiveRequest { LeaseTimeToLiveRequest(id: g.int64(), keys: g.bool()) }
}

extension LeaseTimeToLiveResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseTimeToLiveResponse {
        LeaseTimeToLiveResponse(header: g.message(), id: g.int64(), ttl: g.int64(), grantedTTL: g.int64(), keys: g.array { $0.bytes() })
    }
}

extension LeaseLeasesRequest: Arbitrary {}

extension LeaseStatus: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseStatus { LeaseStatus(id: g.int64()) }
}

extension LeaseLeasesResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaseLeasesResponse { LeaseLeasesResponse(header: g.message(), leases: g.messages()) }
}

// MARK: etcdserverpb Cluster

extension Member: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> Member {
        Member(id: g.uint64(), name: g.string(), peerURLs: g.strings(), clientURLs: g.strings(), isLearner: g.bool())
    }
}

extension MemberAddRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberAddRequest { MemberAddRequest(peerURLs: g.strings(), isLearner: g.bool()) }
}

extension MemberAddResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberAddResponse {
        MemberAddResponse(header: g.message(), member: g.message(), members: g.messages())
    }
}

extension MemberRemoveRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberRemoveRequest { MemberRemoveRequest(id: g.uint64()) }
}

extension MemberRemoveResponse: Arbitrary {}

extension MemberUpdateRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberUpdateRequest { MemberUpdateRequest(id: g.uint64(), peerURLs: g.strings()) }
}

extension MemberUpdateResponse: Arbitrary {}

extension MemberListRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberListRequest { MemberListRequest(linearizable: g.bool()) }
}

extension MemberListResponse: Arbitrary {}

extension MemberPromoteRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> MemberPromoteRequest { MemberPromoteRequest(id: g.uint64()) }
}

extension MemberPromoteResponse: Arbitrary {}

// MARK: etcdserverpb Auth

extension AuthEnableRequest: Arbitrary {}
extension AuthDisableRequest: Arbitrary {}
extension AuthStatusRequest: Arbitrary {}
extension AuthUserListRequest: Arbitrary {}
extension AuthRoleListRequest: Arbitrary {}

extension AuthenticateRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthenticateRequest { AuthenticateRequest(name: g.string(), password: g.string()) }
}

extension AuthUserAddRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserAddRequest {
        AuthUserAddRequest(name: g.string(), password: g.string(), options: g.message(), hashedPassword: g.string())
    }
}

extension AuthUserGetRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserGetRequest { AuthUserGetRequest(name: g.string()) }
}

extension AuthUserDeleteRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserDeleteRequest { AuthUserDeleteRequest(name: g.string()) }
}

extension AuthUserChangePasswordRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserChangePasswordRequest {
        AuthUserChangePasswordRequest(name: g.string(), password: g.string(), hashedPassword: g.string())
    }
}

extension AuthUserGrantRoleRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserGrantRoleRequest { AuthUserGrantRoleRequest(user: g.string(), role: g.string()) }
}

extension AuthUserRevokeRoleRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserRevokeRoleRequest { AuthUserRevokeRoleRequest(name: g.string(), role: g.string()) }
}

extension AuthRoleAddRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleAddRequest { AuthRoleAddRequest(name: g.string()) }
}

extension AuthRoleGetRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleGetRequest { AuthRoleGetRequest(role: g.string()) }
}

extension AuthRoleDeleteRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleDeleteRequest { AuthRoleDeleteRequest(role: g.string()) }
}

extension AuthRoleGrantPermissionRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleGrantPermissionRequest {
        AuthRoleGrantPermissionRequest(name: g.string(), perm: g.message())
    }
}

extension AuthRoleRevokePermissionRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleRevokePermissionRequest {
        AuthRoleRevokePermissionRequest(role: g.string(), key: g.bytes(), rangeEnd: g.bytes())
    }
}

extension AuthEnableResponse: Arbitrary {}
extension AuthDisableResponse: Arbitrary {}
extension AuthUserAddResponse: Arbitrary {}
extension AuthUserDeleteResponse: Arbitrary {}
extension AuthUserChangePasswordResponse: Arbitrary {}
extension AuthUserGrantRoleResponse: Arbitrary {}
extension AuthUserRevokeRoleResponse: Arbitrary {}
extension AuthRoleAddResponse: Arbitrary {}
extension AuthRoleDeleteResponse: Arbitrary {}
extension AuthRoleGrantPermissionResponse: Arbitrary {}
extension AuthRoleRevokePermissionResponse: Arbitrary {}

extension AuthStatusResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthStatusResponse {
        AuthStatusResponse(header: g.message(), enabled: g.bool(), authRevision: g.uint64())
    }
}

extension AuthenticateResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthenticateResponse { AuthenticateResponse(header: g.message(), token: g.string()) }
}

extension AuthUserGetResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserGetResponse { AuthUserGetResponse(header: g.message(), roles: g.strings()) }
}

extension AuthRoleGetResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleGetResponse { AuthRoleGetResponse(header: g.message(), perm: g.messages()) }
}

extension AuthRoleListResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthRoleListResponse { AuthRoleListResponse(header: g.message(), roles: g.strings()) }
}

extension AuthUserListResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> AuthUserListResponse { AuthUserListResponse(header: g.message(), users: g.strings()) }
}

// MARK: etcdserverpb raft_internal and etcdserver.proto

extension RequestHeader: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> RequestHeader {
        RequestHeader(id: g.uint64(), username: g.string(), authRevision: g.uint64())
    }
}

extension InternalRaftRequest: Arbitrary {
    /// Usually one request field, as etcd proposes; sometimes several, which a decoder must keep.
    static func arbitrary(_ g: inout TestRandom) -> InternalRaftRequest {
        var m = InternalRaftRequest(header: g.message(), id: g.uint64())
        let fieldCount = g.chance(1, in: 5) ? g.below(34) : 1
        for _ in 0..<fieldCount { m.setRandomField(&g) }
        return m
    }

    private mutating func setRandomField(_ g: inout TestRandom) {
        switch g.below(32) {
        case 0: v2 = g.message()
        case 1: range = g.message()
        case 2: put = g.message()
        case 3: deleteRange = g.message()
        case 4: txn = g.message()
        case 5: compaction = g.message()
        case 6: leaseGrant = g.message()
        case 7: leaseRevoke = g.message()
        case 8: alarm = g.message()
        case 9: leaseCheckpoint = g.message()
        case 10: authEnable = g.message()
        case 11: authDisable = g.message()
        case 12: authenticate = g.message()
        case 13: authStatus = g.message()
        case 14: authUserAdd = g.message()
        case 15: authUserDelete = g.message()
        case 16: authUserGet = g.message()
        case 17: authUserChangePassword = g.message()
        case 18: authUserGrantRole = g.message()
        case 19: authUserRevokeRole = g.message()
        case 20: authUserList = g.message()
        case 21: authRoleList = g.message()
        case 22: authRoleAdd = g.message()
        case 23: authRoleDelete = g.message()
        case 24: authRoleGet = g.message()
        case 25: authRoleGrantPermission = g.message()
        case 26: authRoleRevokePermission = g.message()
        case 27: clusterVersionSet = g.message()
        case 28: clusterMemberAttrSet = g.message()
        case 29: downgradeInfoSet = g.message()
        case 30: downgradeVersionTest = g.message()
        default: break
        }
    }
}

extension EmptyResponse: Arbitrary {}

extension InternalAuthenticateRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> InternalAuthenticateRequest {
        InternalAuthenticateRequest(name: g.string(), password: g.string(), simpleToken: g.string())
    }
}

extension V2Request: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> V2Request {
        var m = V2Request(id: g.uint64(), method: g.string(), path: g.string(), val: g.string())
        m.dir = g.bool()
        m.prevValue = g.string()
        m.prevIndex = g.uint64()
        m.prevExist = g.chance(1, in: 3) ? nil : g.bool()
        m.expiration = g.int64()
        m.wait = g.bool()
        m.since = g.uint64()
        m.recursive = g.bool()
        m.sorted = g.bool()
        m.quorum = g.bool()
        m.time = g.int64()
        m.stream = g.bool()
        m.refresh = g.chance(1, in: 3) ? nil : g.bool()
        return m
    }
}

extension WALMetadata: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> WALMetadata { WALMetadata(nodeID: g.uint64(), clusterID: g.uint64()) }
}

// MARK: v3lockpb, v3electionpb

extension LockRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LockRequest { LockRequest(name: g.bytes(), lease: g.int64()) }
}

extension LockResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LockResponse { LockResponse(header: g.message(), key: g.bytes()) }
}

extension UnlockRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> UnlockRequest { UnlockRequest(key: g.bytes()) }
}

extension UnlockResponse: Arbitrary {}

extension LeaderKey: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaderKey { LeaderKey(name: g.bytes(), key: g.bytes(), rev: g.int64(), lease: g.int64()) }
}

extension CampaignRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> CampaignRequest { CampaignRequest(name: g.bytes(), lease: g.int64(), value: g.bytes()) }
}

extension CampaignResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> CampaignResponse { CampaignResponse(header: g.message(), leader: g.message()) }
}

extension LeaderRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaderRequest { LeaderRequest(name: g.bytes()) }
}

extension LeaderResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> LeaderResponse { LeaderResponse(header: g.message(), kv: g.message()) }
}

extension ResignRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ResignRequest { ResignRequest(leader: g.message()) }
}

extension ResignResponse: Arbitrary {}

extension ProclaimRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> ProclaimRequest { ProclaimRequest(leader: g.message(), value: g.bytes()) }
}

extension ProclaimResponse: Arbitrary {}

// MARK: grpc.health.v1

extension HealthCheckRequest: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HealthCheckRequest { HealthCheckRequest(service: g.string()) }
}

extension HealthCheckResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HealthCheckResponse {
        var m = HealthCheckResponse()
        m.statusRaw = g.enumRaw(knownCount: 4)
        return m
    }
}

extension HealthListRequest: Arbitrary {}

extension HealthListResponse: Arbitrary {
    static func arbitrary(_ g: inout TestRandom) -> HealthListResponse {
        var m = HealthListResponse()
        for _ in 0..<g.below(4) { m.statuses[g.string()] = HealthCheckResponse.arbitrary(&g) }
        return m
    }
}
