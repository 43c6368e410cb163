import EtcdProto
import Transport

/// Shared plumbing for the gRPC services: decoding requests, answering with etcd's errors.
enum ServiceSupport {
    /// grpc-go's status for a request that does not decode.
    static func decodeFailure(_ error: any Error) -> GRPCStatus {
        GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)")
    }

    /// Registers a unary method whose body throws `EtcdError` (or anything, mapped to UNKNOWN).
    static func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ router: inout GRPCRouter, _ path: String, _ request: Request.Type,
        _ body: @escaping @Sendable (Request, GRPCCallContext, @escaping @Sendable (Result<Response, EtcdError>) -> Void) -> Void
    ) {
        router.register(path, .unary { context, bytes, responder in
            let decoded: Request
            do {
                decoded = try Request(serializedBytes: bytes)
            } catch {
                responder.fail(decodeFailure(error))
                return
            }
            body(decoded, context) { result in
                switch result {
                case .success(let response): responder.respond(response.serializedBytes())
                case .failure(let error): responder.fail(error.status)
                }
            }
        })
    }
}
