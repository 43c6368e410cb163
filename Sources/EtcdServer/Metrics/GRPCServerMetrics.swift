import Prometheus
import Synchronization
import Transport

/// go-grpc-prometheus's server counters, as etcd registers them: `grpc_server_started_total` and
/// `grpc_server_handled_total` by service, method and call type (and code, in Go's names).
/// Counters are made once per method (and code) and kept, so counting a call takes one lock and
/// one dictionary lookup.
final class GRPCServerMetrics: GRPCCallMetrics {
    private let registry: PrometheusCollectorRegistry
    private let started = Mutex<[String: Counter]>([:])
    private let handled = Mutex<[HandledKey: Counter]>([:])

    private struct HandledKey: Hashable {
        var path: String
        var code: GRPCStatusCode
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func started(path: String, kind: GRPCMethodKind) {
        let counter = started.withLock { cache in
            if let c = cache[path] { return c }
            let c = registry.makeCounter(
                name: "grpc_server_started_total", labels: Self.labels(path, kind),
                help: "Total number of RPCs started on the server.")
            cache[path] = c
            return c
        }
        counter.increment()
    }

    func handled(path: String, kind: GRPCMethodKind, code: GRPCStatusCode) {
        let key = HandledKey(path: path, code: code)
        let counter = handled.withLock { cache in
            if let c = cache[key] { return c }
            let c = registry.makeCounter(
                name: "grpc_server_handled_total", labels: [("grpc_code", Self.goName(code))] + Self.labels(path, kind),
                help: "Total number of RPCs completed on the server, regardless of success or failure.")
            cache[key] = c
            return c
        }
        counter.increment()
    }

    /// `grpc_method`, `grpc_service`, `grpc_type` of a `/package.Service/Method` path.
    static func labels(_ path: String, _ kind: GRPCMethodKind) -> [(String, String)] {
        var rest = Substring(path)
        if rest.first == "/" { rest = rest.dropFirst() }
        let slash = rest.lastIndex(of: "/") ?? rest.endIndex
        let service = String(rest[..<slash])
        let method = slash < rest.endIndex ? String(rest[rest.index(after: slash)...]) : ""
        return [("grpc_method", method), ("grpc_service", service), ("grpc_type", typeName(kind))]
    }

    static func typeName(_ kind: GRPCMethodKind) -> String {
        switch kind {
        case .unary: return "unary"
        case .clientStreaming: return "client_stream"
        case .serverStreaming: return "server_stream"
        case .bidirectionalStreaming: return "bidi_stream"
        }
    }

    /// Go's `codes.Code.String()`.
    static func goName(_ code: GRPCStatusCode) -> String {
        switch code {
        case .ok: return "OK"
        case .cancelled: return "Canceled"
        case .unknown: return "Unknown"
        case .invalidArgument: return "InvalidArgument"
        case .deadlineExceeded: return "DeadlineExceeded"
        case .notFound: return "NotFound"
        case .alreadyExists: return "AlreadyExists"
        case .permissionDenied: return "PermissionDenied"
        case .resourceExhausted: return "ResourceExhausted"
        case .failedPrecondition: return "FailedPrecondition"
        case .aborted: return "Aborted"
        case .outOfRange: return "OutOfRange"
        case .unimplemented: return "Unimplemented"
        case .internal: return "Internal"
        case .unavailable: return "Unavailable"
        case .dataLoss: return "DataLoss"
        case .unauthenticated: return "Unauthenticated"
        }
    }
}
