import EtcdProto
import Transport

/// `etcdserverpb.Maintenance` (Status, Alarm, Defragment, Hash, HashKV, MoveLeader, Snapshot;
/// Downgrade: `DowngradeService`). (Cluster: `MemberService`.)
struct ClusterMaintenanceService {
    let server: EtcdServerCore
    /// Where a Snapshot call writes its backend copy (the data dir's `member/snap`).
    let snapshotDirectory: String

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        let directory = snapshotDirectory
        router.register(GRPCMethod.snapshot.rawValue, .streaming(kind: .serverStreaming) { _, stream in
            SnapshotCall(stream: stream, server: server, directory: directory)
        })
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/Alarm", AlarmRequest.self, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<AlarmResponse, EtcdError>) -> Void) in
            switch request.action {
            case .get?, nil:
                var response = AlarmResponse()
                response.header = server.header(revision: server.currentRevision())
                response.alarms = server.alarms.get(rawType: request.alarmRaw)
                done(.success(response))
            case .activate?, .deactivate?:
                var raftRequest = InternalRaftRequest()
                raftRequest.alarm = request
                server.propose(raftRequest) { result in
                    done(result.flatMap { applied in
                        guard case .alarm(var response) = applied else { return .failure(.other("unexpected apply result")) }
                        response.header = server.header(revision: server.currentRevision())
                        return .success(response)
                    })
                }
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/Defragment", DefragmentRequest.self, answer: .bounded) { (_, _, done: @escaping @Sendable (Result<DefragmentResponse, EtcdError>) -> Void) in
            server.defragment { result in
                // etcd answers an empty DefragmentResponse (no header).
                done(result.map { DefragmentResponse() })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/Hash", HashRequest.self, answer: .bounded) { (_, _, done: @escaping @Sendable (Result<HashResponse, EtcdError>) -> Void) in
            server.hashBackend { result in
                done(result.map { HashResponse(header: server.header(revision: $0.revision), hash: $0.hash) })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/HashKV", HashKVRequest.self, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<HashKVResponse, EtcdError>) -> Void) in
            server.hashKV(revision: request.revision) { result in
                done(result.map { hashed in
                    var response = HashKVResponse()
                    response.header = server.header(revision: hashed.currentRevision)
                    response.hash = hashed.hash
                    // etcd's compactMainRev starts at -1: never compacted.
                    response.compactRevision = hashed.compactRevision
                    return response
                })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/MoveLeader", MoveLeaderRequest.self, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<MoveLeaderResponse, EtcdError>) -> Void) in
            // etcd: only the leader moves leadership; a transferee that is not a voting member is
            // refused; moving it to the member that already leads succeeds at once.
            guard server.raft.leaderID == server.identity.memberID else { return done(.failure(.notLeader)) }
            guard let target = server.membership.current.members[request.targetID], !target.isLearner else {
                return done(.failure(.badLeaderTransferee))
            }
            server.raft.transferLeadership(to: target.id) { result in
                // etcd answers an empty MoveLeaderResponse (no header).
                done(result.map { MoveLeaderResponse() })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/Status", StatusRequest.self, answer: .bounded) { (_, _, done: @escaping @Sendable (Result<StatusResponse, EtcdError>) -> Void) in
            done(.success(server.status()))
        }
    }
}

/// `grpc.health.v1.Health/Check`: SERVING for the empty service name, as etcd registers it.
/// grpc.health.v1: SERVING, or NOT_SERVING while a defragmentation runs when
/// `--experimental-stop-grpc-service-on-defrag` asks clients to go elsewhere meanwhile.
struct HealthService {
    let server: EtcdServerCore

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        router.register("/grpc.health.v1.Health/Check", .unary(answer: .bounded) { _, bytes, responder in
            let request: HealthCheckRequest
            do {
                request = try HealthCheckRequest(serializedBytes: bytes)
            } catch {
                responder.fail(ServiceSupport.decodeFailure(error))
                return
            }
            // etcd registers only the empty service name.
            guard request.service.isEmpty else {
                responder.fail(GRPCStatus(.notFound, "unknown service"))
                return
            }
            let stopped = server.config.stopGRPCServiceOnDefrag && server.isDefragmenting
            let response = HealthCheckResponse(status: stopped ? .notServing : .serving)
            responder.respond(response.serializedBytes())
        })
    }
}
