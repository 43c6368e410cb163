import EtcdProto
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
            guard let current = membership.clusterVersion, let cv = GoSemver.parse(current) else {
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
        guard let v = GoSemver.parse(text) ?? GoSemver.parse(text + ".0") else { return nil }
        return (v.major, v.minor)
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

/// `github.com/coreos/go-semver`'s `NewVersion`, as far as etcd reads it: build metadata after
/// the first "+", a pre-release after the first "-" (both dot-separated [0-9A-Za-z-]
/// identifiers), then exactly three dot-separated decimal numbers (Go's `ParseInt`: leading
/// zeros allowed, Int64 range).
enum GoSemver {
    static func parse(_ text: String) -> (major: Int64, minor: Int64, patch: Int64)? {
        var rest = Substring(text)
        var metadata: Substring = ""
        if let plus = rest.firstIndex(of: "+") {
            metadata = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        var preRelease: Substring = ""
        if let dash = rest.firstIndex(of: "-") {
            preRelease = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, isIdentifier(preRelease), isIdentifier(metadata) else { return nil }
        var numbers: [Int64] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(part) else { return nil }
            numbers.append(n)
        }
        return (numbers[0], numbers[1], numbers[2])
    }

    /// Empty, or `^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$`.
    private static func isIdentifier(_ s: Substring) -> Bool {
        if s.isEmpty { return true }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d
            }
        }
    }
}
