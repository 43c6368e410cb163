import EtcdProto
import Testing

/// One message type, as a test argument.
struct MessageKind: Sendable, CustomTestStringConvertible {
    let type: any Arbitrary.Type
    var name: String { type.protoMessageName }
    var testDescription: String { name }
}

/// Every message type of `Protos/` that has a Swift type here (all but raftpb, which has its own
/// owner and tests). `catalogMatchesTheProtoFiles` checks the list against the .proto files.
let allMessageKinds: [MessageKind] = allMessageTypes.map(MessageKind.init(type:))

let allMessageTypes: [any Arbitrary.Type] = [
    // mvccpb
    KeyValue.self, Event.self,
    // authpb
    UserAddOptions.self, User.self, Permission.self, Role.self,
    // leasepb
    Lease.self, LeaseInternalRequest.self, LeaseInternalResponse.self,
    // membershippb
    RaftAttributes.self, Attributes.self, MembershipMember.self, ClusterVersionSetRequest.self,
    ClusterMemberAttrSetRequest.self, DowngradeInfoSetRequest.self,
    // etcdserverpb: KV
    ResponseHeader.self, RangeRequest.self, RangeResponse.self, RangeStreamResponse.self, PutRequest.self,
    PutResponse.self, DeleteRangeRequest.self, DeleteRangeResponse.self, RequestOp.self, ResponseOp.self,
    Compare.self, TxnRequest.self, TxnResponse.self, CompactionRequest.self, CompactionResponse.self,
    // etcdserverpb: Maintenance
    HashRequest.self, HashKVRequest.self, HashKVResponse.self, HashResponse.self, SnapshotRequest.self,
    SnapshotResponse.self, MoveLeaderRequest.self, MoveLeaderResponse.self, AlarmRequest.self, AlarmMember.self,
    AlarmResponse.self, DowngradeRequest.self, DowngradeResponse.self, DowngradeVersionTestRequest.self,
    StatusRequest.self, StatusResponse.self, DowngradeInfo.self, DefragmentRequest.self, DefragmentResponse.self,
    // etcdserverpb: Watch
    WatchRequest.self, WatchCreateRequest.self, WatchCancelRequest.self, WatchProgressRequest.self,
    WatchResponse.self,
    // etcdserverpb: Lease
    LeaseGrantRequest.self, LeaseGrantResponse.self, LeaseRevokeRequest.self, LeaseRevokeResponse.self,
    LeaseCheckpoint.self, LeaseCheckpointRequest.self, LeaseCheckpointResponse.self, LeaseKeepAliveRequest.self,
    LeaseKeepAliveResponse.self, LeaseTimeToLiveRequest.self, LeaseTimeToLiveResponse.self,
    LeaseLeasesRequest.self, LeaseStatus.self, LeaseLeasesResponse.self,
    // etcdserverpb: Cluster
    Member.self, MemberAddRequest.self, MemberAddResponse.self, MemberRemoveRequest.self,
    MemberRemoveResponse.self, MemberUpdateRequest.self, MemberUpdateResponse.self, MemberListRequest.self,
    MemberListResponse.self, MemberPromoteRequest.self, MemberPromoteResponse.self,
    // etcdserverpb: Auth
    AuthEnableRequest.self, AuthDisableRequest.self, AuthStatusRequest.self, AuthenticateRequest.self,
    AuthUserAddRequest.self, AuthUserGetRequest.self, AuthUserDeleteRequest.self,
    AuthUserChangePasswordRequest.self, AuthUserGrantRoleRequest.self, AuthUserRevokeRoleRequest.self,
    AuthRoleAddRequest.self, AuthRoleGetRequest.self, AuthUserListRequest.self, AuthRoleListRequest.self,
    AuthRoleDeleteRequest.self, AuthRoleGrantPermissionRequest.self, AuthRoleRevokePermissionRequest.self,
    AuthEnableResponse.self, AuthDisableResponse.self, AuthStatusResponse.self, AuthenticateResponse.self,
    AuthUserAddResponse.self, AuthUserGetResponse.self, AuthUserDeleteResponse.self,
    AuthUserChangePasswordResponse.self, AuthUserGrantRoleResponse.self, AuthUserRevokeRoleResponse.self,
    AuthRoleAddResponse.self, AuthRoleGetResponse.self, AuthRoleListResponse.self, AuthUserListResponse.self,
    AuthRoleDeleteResponse.self, AuthRoleGrantPermissionResponse.self, AuthRoleRevokePermissionResponse.self,
    // etcdserverpb: raft_internal.proto, etcdserver.proto
    RequestHeader.self, InternalRaftRequest.self, EmptyResponse.self, InternalAuthenticateRequest.self,
    V2Request.self, WALMetadata.self,
    // v3lockpb
    LockRequest.self, LockResponse.self, UnlockRequest.self, UnlockResponse.self,
    // v3electionpb
    CampaignRequest.self, CampaignResponse.self, LeaderKey.self, LeaderRequest.self, LeaderResponse.self,
    ResignRequest.self, ResignResponse.self, ProclaimRequest.self, ProclaimResponse.self,
    // grpc.health.v1
    HealthCheckRequest.self, HealthCheckResponse.self, HealthListRequest.self, HealthListResponse.self,
]

/// The base seed of every randomized test: `SWETCD_PROTO_SEED` if set, else a fixed value so that
/// CI is reproducible. Failures print the seed of the instance that failed.
let baseSeed: UInt64 = {
    if let text = getenv("SWETCD_PROTO_SEED"), let seed = UInt64(String(cString: text)) { return seed }
    return 0x5eed_e7cd
}()

/// A per-type, per-instance seed derived from the base seed.
func instanceSeed(_ typeName: String, _ index: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the type name
    for byte in typeName.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return baseSeed ^ h ^ (UInt64(bitPattern: Int64(index)) &* 0x9e37_79b9_7f4a_7c15)
}

extension Arbitrary {
    static func instance(seed: UInt64) -> Self {
        var g = TestRandom(seed: seed)
        return arbitrary(&g)
    }

    /// Whether `bytes` decode to a value equal to `self`.
    func decodes(from bytes: [UInt8]) -> Bool {
        (try? Self(serializedBytes: bytes)) == self
    }

    /// Encodings of `count` seeded instances: (seed, encoded bytes).
    static func encodedInstances(count: Int) -> [(seed: UInt64, bytes: [UInt8])] {
        (0..<count).map { i in
            let seed = instanceSeed(protoMessageName, i)
            return (seed, instance(seed: seed).serializedBytes())
        }
    }

    /// Decodes and throws away: for inputs that only need not trap.
    static func decodeIgnoringErrors(_ bytes: [UInt8]) -> Result<Void, ProtoDecodingError> {
        do throws(ProtoDecodingError) {
            _ = try Self(serializedBytes: bytes)
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    static func decodeError(_ bytes: [UInt8]) -> ProtoDecodingError? {
        if case .failure(let error) = decodeIgnoringErrors(bytes) { return error }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
