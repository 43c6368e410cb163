import EtcdProto
import Transport

/// Shared plumbing for the gRPC services: decoding requests, answering with etcd's errors.
enum ServiceSupport {
    /// grpc-go's status for a request that does not decode.
    static func decodeFailure(_ error: any Error) -> GRPCStatus {
        GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)")
    }

    /// The request, or nil after answering grpc-go's decode failure.
    static func decode<Request: ProtoMessage>(_ bytes: [UInt8], _ responder: any GRPCUnaryResponder) -> Request? {
        do {
            return try Request(serializedBytes: bytes)
        } catch {
            responder.fail(decodeFailure(error))
            return nil
        }
    }

    /// gRPC metadata a client sets to fail fast when the cluster has no leader (etcd's
    /// `rpctypes.MetadataRequireLeaderKey`; clientv3's `WithRequireLeader`, Kubernetes' watches).
    static let requireLeaderKey = "hasleader"

    /// `.noLeader` when the call asks for a leader (`hasleader: true`) and there is none, as
    /// etcd's unary and stream interceptors answer; nil otherwise. Every service that talks to
    /// the cluster checks this first (the `server:` form of `unary` does it for unary methods).
    static func leaderCheck(_ context: GRPCCallContext, _ server: EtcdServerCore) -> EtcdError? {
        guard context.metadata[requireLeaderKey] == "true", !server.hasLeader else { return nil }
        return .noLeader
    }

    /// `unary`, failing fast with `.noLeader` first when the call requires a leader and there is
    /// none (`leaderCheck`).
    static func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ router: inout GRPCRouter, _ path: String, _ request: Request.Type, server: EtcdServerCore,
        answer: GRPCAnswerSize = .unbounded,
        _ body: @escaping @Sendable (Request, GRPCCallContext, @escaping @Sendable (Result<Response, EtcdError>) -> Void) -> Void
    ) {
        unary(&router, path, request, answer: answer) { (decoded, context, done: @escaping @Sendable (Result<Response, EtcdError>) -> Void) in
            if let error = leaderCheck(context, server) { return done(.failure(error)) }
            body(decoded, context, done)
        }
    }

    /// Registers a unary method whose body throws `EtcdError` (or anything, mapped to UNKNOWN).
    /// `answer` is `.bounded` only for methods whose answer stays small whatever the store holds
    /// (see `GRPCAnswerSize`).
    static func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ router: inout GRPCRouter, _ path: String, _ request: Request.Type,
        answer: GRPCAnswerSize = .unbounded,
        _ body: @escaping @Sendable (Request, GRPCCallContext, @escaping @Sendable (Result<Response, EtcdError>) -> Void) -> Void
    ) {
        router.register(path, .unary(answer: answer) { context, bytes, responder in
            guard let decoded: Request = decode(bytes, responder) else { return }
            body(decoded, context) { result in
                switch result {
                case .success(let response): responder.respond(response.serializedBytes())
                case .failure(let error): responder.fail(error.status)
                }
            }
        })
    }
}

extension ServiceSupport {
    /// Registers a unary method whose body is an async task (v3lock, v3election: a call may wait
    /// for other clients). The body gets the call's cancellation; what it throws is sent as it
    /// maps (`EtcdError.status`).
    static func unaryTask<Request: ProtoMessage, Response: ProtoMessage>(
        _ router: inout GRPCRouter, _ path: String, _ request: Request.Type, server: EtcdServerCore,
        answer: GRPCAnswerSize = .bounded,
        _ body: @escaping @Sendable (Request, CallCancellation) async throws(EtcdError) -> Response
    ) {
        router.register(path, .unary(answer: answer) { context, bytes, responder in
            guard let decoded: Request = decode(bytes, responder) else { return }
            if let error = leaderCheck(context, server) { return responder.fail(error.status) }
            let call = CallCancellation(isCancelled: { responder.isCancelled }, whenCancelled: { responder.whenCancelled($0) })
            Task {
                do throws(EtcdError) {
                    responder.respond(try await body(decoded, call).serializedBytes())
                } catch {
                    responder.fail(error.status)
                }
            }
        })
    }
}
