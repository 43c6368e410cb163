import EtcdProto
import MVCC
import NIOCore
import Transport

/// `etcdserverpb.Lease` (etcd's `api/v3rpc/lease.go` over `v3_server.go`): LeaseGrant and
/// LeaseRevoke go through the log; LeaseKeepAlive, LeaseTimeToLive and LeaseLeases are answered
/// by the leader's lessor on the calling event loop, as etcd's leader answers them without the
/// log.
struct LeaseService {
    let server: EtcdServerCore
    let store: LeaseStore

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        let store = self.store
        ServiceSupport.unary(&router, GRPCMethod.leaseGrant.rawValue, LeaseGrantRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<LeaseGrantResponse, EtcdError>) -> Void) in
            var request = request
            // etcd: no ID given, the server picks a positive one from its request ID generator.
            while request.id == 0 { request.id = Int64(bitPattern: server.nextID() & (1 << 63 - 1)) }
            var raftRequest = InternalRaftRequest()
            raftRequest.leaseGrant = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .leaseGrant(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.leaseRevoke.rawValue, LeaseRevokeRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping @Sendable (Result<LeaseRevokeResponse, EtcdError>) -> Void) in
            var raftRequest = InternalRaftRequest()
            raftRequest.leaseRevoke = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .leaseRevoke(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
        ServiceSupport.unary(&router, GRPCMethod.leaseTimeToLive.rawValue, LeaseTimeToLiveRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<LeaseTimeToLiveResponse, EtcdError>) -> Void) in
            // Only the leader knows how long a lease has left: elsewhere etcd asks it.
            if !server.lessor.isPrimary && !server.raft.isSingletonLeader {
                return server.forwardLeaseTimeToLive(request, done)
            }
            done(Self.timeToLive(request, server: server, store: store))
        }
        ServiceSupport.unary(&router, GRPCMethod.leaseLeases.rawValue, LeaseLeasesRequest.self, server: server) { (_, _, done: @escaping @Sendable (Result<LeaseLeasesResponse, EtcdError>) -> Void) in
            let ids = server.lessor.idsByExpiry()
            done(.success(LeaseLeasesResponse(header: server.header(revision: server.currentRevision()), leases: ids.map(LeaseStatus.init(id:)))))
        }
        router.register(GRPCMethod.leaseKeepAlive.rawValue, .streaming(kind: .bidirectionalStreaming) { context, stream in
            if let error = ServiceSupport.leaderCheck(context, server) {
                stream.finish(error.status)
                return ClosedStreamObserver()
            }
            let eventLoop = context.eventLoop
            if context.metadata[ServiceSupport.requireLeaderKey] == "true" {
                server.leaderLoss.register(.init(isDone: { stream.isCancelled }, end: { status in eventLoop.execute { stream.finish(status) } }))
            }
            return LeaseKeepAliveObserver(
                stream: stream, lessor: server.lessor,
                header: { server.header(revision: server.currentRevision()) },
                forward: { id, done in server.forwardLeaseRenew(id, done) },
                onLoop: { work in eventLoop.execute(work) })
        })
    }

    /// etcd's LeaseTimeToLive: remaining whole seconds (truncated) and the granted TTL, the keys
    /// if asked; an unknown lease answers TTL -1 (not an error).
    static func timeToLive(_ request: LeaseTimeToLiveRequest, server: EtcdServerCore, store: LeaseStore) -> Result<LeaseTimeToLiveResponse, EtcdError> {
        var response = LeaseTimeToLiveResponse()
        response.id = request.id
        guard let ttl = server.lessor.timeToLive(request.id) else {
            response.ttl = -1
            response.header = server.header(revision: server.currentRevision())
            return .success(response)
        }
        response.ttl = ttl.ttlSeconds
        response.grantedTTL = ttl.grantedTTLSeconds
        do {
            response.header = try server.store.read { view in
                if request.keys { response.keys = try store.keys(of: request.id, in: view.backend) }
                return server.header(revision: view.currentRevision)
            }
        } catch {
            return .failure(.other("\(error)"))
        }
        return .success(response)
    }
}

/// One LeaseKeepAlive stream: each request renews its lease and is answered in order with the
/// granted TTL, or TTL 0 when the lease does not exist (etcd answers so rather than failing the
/// stream). A request for a lease past its expiry waits until the expiry's revoke is published and
/// is then answered TTL 0, as etcd's `Renew` waits; requests behind it wait their turn, so answers
/// stay in request order. All methods run on the stream's event loop; the only thing that
/// crosses threads is the lessor's callback, which hops back to the loop before touching state
/// (hence `@unchecked Sendable`).
final class LeaseKeepAliveObserver: GRPCStreamObserver, @unchecked Sendable {
    /// A client that sends keep-alives but does not read the answers is cut off past this many
    /// unsent response bytes (about 20,000 answers), and past this many requests waiting behind
    /// an expired lease.
    static let outboundBytesMax = 1 << 20
    static let backlogRequestsMax = 10_000

    private let stream: any GRPCServerStream
    private let lessor: Lessor
    /// The response header as of now.
    private let header: () -> ResponseHeader
    /// Runs work on the stream's event loop (from the lessor's callback, on another thread).
    private let onLoop: @Sendable (@escaping @Sendable () -> Void) -> Void
    /// Renews a lease through the leader (this member does not lead): the TTL, 0 when unknown.
    private let forward: @Sendable (Int64, @escaping @Sendable (Result<Int64, EtcdError>) -> Void) -> Void
    /// Set while a request waits for an expired lease's revoke.
    private var waiting = false
    private var backlog: CircularBuffer<Int64> = []
    private var clientEnded = false
    private var done = false

    init(stream: any GRPCServerStream, lessor: Lessor, header: @escaping () -> ResponseHeader,
         forward: @escaping @Sendable (Int64, @escaping @Sendable (Result<Int64, EtcdError>) -> Void) -> Void = { _, done in done(.failure(.notLeader)) },
         onLoop: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) {
        self.forward = forward
        self.stream = stream
        self.lessor = lessor
        self.header = header
        self.onLoop = onLoop
    }

    func received(_ message: [UInt8]) {
        guard !done else { return }
        let request: LeaseKeepAliveRequest
        do {
            request = try LeaseKeepAliveRequest(serializedBytes: message)
        } catch {
            finish(ServiceSupport.decodeFailure(error))
            return
        }
        if waiting {
            guard backlog.count < Self.backlogRequestsMax else { return finish(EtcdError.tooManyRequests.status) }
            backlog.append(request.id)
            return
        }
        renew(request.id)
    }

    func receivedEnd() {
        clientEnded = true
        // etcd's handler returns nil at the client's EOF: OK, after the last answer.
        if !waiting { finish(.ok) }
    }

    func cancelled() {
        done = true
        backlog.removeAll()
    }

    private func renew(_ id: Int64) {
        // The header is taken before the renew (etcd does the same), so a client never sees a
        // renewal at a revision after the lease's revoke.
        let header = self.header()
        // Held strongly until the revoke settles it: a bounded wait (the expiry round proposes
        // the revoke as soon as the lease is due).
        let outcome = lessor.renew(id) { [self, onLoop] settled in
            onLoop { self.settled(id, header: header, outcome: settled) }
        }
        if case .notPrimary? = outcome {
            // etcd forwards a follower's keep-alive to the leader; answers stay in order.
            waiting = true
            forward(id) { [self, onLoop] result in
                onLoop { self.forwarded(id, header: header, result: result) }
            }
        } else if let outcome {
            answer(id, header: header, outcome: outcome)
        } else {
            waiting = true
        }
    }

    private func forwarded(_ id: Int64, header: ResponseHeader, result: Result<Int64, EtcdError>) {
        waiting = false
        guard !done else { return }
        switch result {
        case .success(let ttl):
            if stream.pendingOutboundBytes > Self.outboundBytesMax { return finish(EtcdError.tooManyRequests.status) }
            stream.send(LeaseKeepAliveResponse(header: header, id: id, ttl: ttl).serializedBytes())
        case .failure(let error):
            return finish(error.status)
        }
        while !waiting && !done, let next = backlog.popFirst() { renew(next) }
        if clientEnded && !waiting && !done { finish(.ok) }
    }

    private func settled(_ id: Int64, header: ResponseHeader, outcome: Lessor.RenewOutcome) {
        waiting = false
        guard !done else { return }
        answer(id, header: header, outcome: outcome)
        while !waiting && !done, let next = backlog.popFirst() { renew(next) }
        if clientEnded && !waiting && !done { finish(.ok) }
    }

    private func answer(_ id: Int64, header: ResponseHeader, outcome: Lessor.RenewOutcome) {
        let ttl: Int64
        switch outcome {
        case .renewed(let ttlSeconds): ttl = ttlSeconds
        case .notFound, .expired: ttl = 0
        case .notPrimary:
            return finish(EtcdError.notLeader.status)
        }
        if stream.pendingOutboundBytes > Self.outboundBytesMax { return finish(EtcdError.tooManyRequests.status) }
        stream.send(LeaseKeepAliveResponse(header: header, id: id, ttl: ttl).serializedBytes())
    }

    private func finish(_ status: GRPCStatus) {
        guard !done else { return }
        done = true
        backlog.removeAll()
        stream.finish(status)
    }
}

/// The observer of a stream finished before it started (e.g. no leader).
final class ClosedStreamObserver: GRPCStreamObserver {
    func received(_ message: [UInt8]) {}
    func receivedEnd() {}
    func cancelled() {}
}
