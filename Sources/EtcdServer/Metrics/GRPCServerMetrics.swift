import Prometheus
import Transport

/// go-grpc-prometheus's server counters, as etcd registers them: `grpc_server_started_total` and
/// `grpc_server_handled_total` by service, method and call type (and code, in Go's names).
/// As go-grpc-prometheus's `Register` does, every registered method's series exist from the
/// start (handled: one per code), so the table is built once and counting a call is a dictionary
/// read and an atomic add, with no lock. With `--metrics extensive`, also
/// `grpc_server_handling_seconds` (go-grpc-prometheus's handling-time histogram, its default
/// buckets), which etcd's `etcdGRPCRequestsSlow` alert reads.
final class GRPCServerMetrics: GRPCCallMetrics {
    private struct Method {
        let started: Counter
        let received: Counter
        let sent: Counter
        /// Indexed by `GRPCStatusCode.rawValue`.
        let handled: [Counter]
        let handling: ValueHistogram?
    }

    /// Prometheus' `DefBuckets`, seconds.
    static let handlingBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private let methods: [String: Method]

    init(registry: PrometheusCollectorRegistry, methods registered: [(path: String, kind: GRPCMethodKind)], handlingTime: Bool = false) {
        var methods: [String: Method] = [:]
        for (path, kind) in registered {
            let labels = Self.labels(path, kind)
            let started = registry.makeCounter(descriptor: .etcd("grpc_server_started_total", "Total number of RPCs started on the server."), labels: labels)
            let handled = GRPCStatusCode.allCases.sorted { $0.rawValue < $1.rawValue }.map { code in
                registry.makeCounter(descriptor: .etcd("grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure."), labels: [("grpc_code", Self.goName(code))] + labels)
            }
            let received = registry.makeCounter(descriptor: .etcd("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server."), labels: labels)
            let sent = registry.makeCounter(descriptor: .etcd("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server."), labels: labels)
            let handling = handlingTime ? registry.makeValueHistogram(
                descriptor: .etcd("grpc_server_handling_seconds", "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server."),
                labels: labels, buckets: Self.handlingBuckets) : nil
            methods[path] = Method(started: started, received: received, sent: sent, handled: handled, handling: handling)
        }
        self.methods = methods
    }

    func started(path: String, kind: GRPCMethodKind) {
        methods[path]?.started.increment()
    }

    func received(path: String, kind: GRPCMethodKind, messages: Int) {
        methods[path]?.received.increment(by: Int64(messages))
    }

    func sent(path: String, kind: GRPCMethodKind, messages: Int) {
        methods[path]?.sent.increment(by: Int64(messages))
    }

    func handled(path: String, kind: GRPCMethodKind, code: GRPCStatusCode, seconds: Double) {
        guard let method = methods[path] else { return }
        method.handled[code.rawValue].increment()
        method.handling?.record(seconds)
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
