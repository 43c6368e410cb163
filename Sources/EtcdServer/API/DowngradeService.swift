import EtcdProto
import Peer
import Transport

/// `Maintenance.Downgrade` as etcd 3.5 answers it (`v3_server.go`): VALIDATE checks that the
/// target is the cluster version's minor minus one and that no downgrade is in progress; ENABLE
/// validates, then records the downgrade through the log (`DowngradeInfoSetRequest`); CANCEL
/// removes it through the log. Every answer carries the cluster version. The recorded downgrade
/// is what `/downgrade/enabled` answers peers; members of an older etcd can then join.
enum DowngradeService {
    static func register(_ router: inout GRPCRouter, server: EtcdServerCore) {
        ServiceSupport.unary(&router, "/etcdserverpb.Maintenance/Downgrade", DowngradeRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<DowngradeResponse, EtcdError>) -> Void) in
            let answer: @Sendable (Result<String, EtcdError>) -> Void = { result in
                done(result.map { DowngradeResponse(header: server.header(revision: server.currentRevision()), version: $0) })
            }
            switch request.action {
            case .validate?:
                validate(request.version, server) { answer($0.map(\.clusterVersion)) }
            case .enable?:
                validate(request.version, server) { result in
                    switch result {
                    case .failure(let error): answer(.failure(error))
                    case .success(let valid): record(DowngradeInfoSetRequest(enabled: true, ver: valid.target), server, answer)
                    }
                }
            case .cancel?:
                server.whenReadable(serializable: false) { ready in
                    if case .failure(let error) = ready { return answer(.failure(error)) }
                    guard server.membership.current.downgrade != nil else { return answer(.failure(.noInflightDowngrade)) }
                    record(DowngradeInfoSetRequest(enabled: false), server, answer)
                }
            case nil:
                answer(.failure(.unknownMethod))
            }
        }
    }

    /// etcd's `downgradeValidate`: the target's format first, then (after a linearizable read)
    /// the cluster version, the allowed target, a downgrade already in progress.
    static func validate(_ version: String, _ server: EtcdServerCore,
                         _ done: @escaping @Sendable (Result<(clusterVersion: String, target: String), EtcdError>) -> Void) {
        guard let target = clusterVersion(of: version) else { return done(.failure(.wrongDowngradeVersionFormat)) }
        server.whenReadable(serializable: false) { ready in
            if case .failure(let error) = ready { return done(.failure(error)) }
            let membership = server.membership.current
            guard let current = membership.clusterVersion, let cv = GoSemver.majorMinor(current) else {
                return done(.failure(.clusterVersionUnavailable))
            }
            // etcd's AllowedDowngradeVersion: one minor version down.
            guard target.major == cv.major, cv.minor.subtractingReportingOverflow(1) == (target.minor, false) else {
                return done(.failure(.invalidDowngradeTargetVersion))
            }
            guard membership.downgrade == nil else { return done(.failure(.downgradeInProcess)) }
            done(.success((current, "\(target.major).\(target.minor).0")))
        }
    }

    /// etcd's `convertToClusterVersion`: a semantic version, or major.minor; the patch dropped.
    static func clusterVersion(of text: String) -> (major: Int64, minor: Int64)? {
        GoSemver.majorMinor(text) ?? GoSemver.majorMinor(text + ".0")
    }

    private static func record(_ set: DowngradeInfoSetRequest, _ server: EtcdServerCore,
                               _ answer: @escaping @Sendable (Result<String, EtcdError>) -> Void) {
        var raftRequest = InternalRaftRequest()
        raftRequest.downgradeInfoSet = set
        server.propose(raftRequest) { result in
            answer(result.map { _ in server.membership.current.clusterVersion ?? "" })
        }
    }
}
