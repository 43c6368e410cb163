import NIOCore

/// How many messages each side of a gRPC method sends.
public enum GRPCMethodKind: Sendable {
    case unary
    case serverStreaming
    case clientStreaming
    case bidirectionalStreaming
}

/// Request metadata (HTTP/2 headers that are not pseudo-headers or transport headers), with
/// lower-case names as HTTP/2 requires.
public struct GRPCMetadata: Sendable {
    public var entries: [(name: String, value: String)]

    public init(_ entries: [(name: String, value: String)] = []) {
        self.entries = entries
    }

    /// The first value for `name` (lower-case).
    public subscript(_ name: String) -> String? {
        entries.first { $0.name == name }?.value
    }
}

/// Who is calling: the remote address, and for TLS connections the verified client certificate's
/// common name (etcd uses it as the user name when auth is on).
public struct PeerInfo: Sendable {
    public var remoteAddress: SocketAddress?
    public var certificateCommonName: String?

    public init(remoteAddress: SocketAddress? = nil, certificateCommonName: String? = nil) {
        self.remoteAddress = remoteAddress
        self.certificateCommonName = certificateCommonName
    }
}

/// Everything a method handler knows about its call besides the messages.
public struct GRPCCallContext: Sendable {
    /// `/package.Service/Method`.
    public let path: String
    public let metadata: GRPCMetadata
    /// From `grpc-timeout`; the transport fails the call with DEADLINE_EXCEEDED when it passes.
    public let deadline: NIODeadline?
    public let peer: PeerInfo
    /// The connection's event loop: responses may be sent from any thread, but handlers that want
    /// to stay on the loop can schedule here.
    public let eventLoop: any EventLoop
}

/// Sends the single response of a unary call. May be used from any thread; the first of
/// `respond`/`fail` wins and later calls are ignored.
public protocol GRPCUnaryResponder: Sendable {
    func respond(_ message: [UInt8])
    func fail(_ status: GRPCStatus)
    /// True once the client cancelled, the deadline passed or the connection closed.
    var isCancelled: Bool { get }
    /// Runs `handler` once the call is over for the transport (cancelled, deadline passed,
    /// stream or connection closed; also after an answer was sent), at once if it is already;
    /// on whichever thread ends it, so it must only hand the news on.
    func whenCancelled(_ handler: @escaping @Sendable () -> Void)
}

/// The server's half of a streaming call. Thread-safe: every method may be called from any thread
/// and takes effect in call order on the connection's event loop.
public protocol GRPCServerStream: Sendable {
    func send(_ message: [UInt8])
    /// Several messages in order, as one operation on the connection (one hop, one write).
    func send(batch messages: [[UInt8]])
    /// Ends the call with trailers; later sends are dropped.
    func finish(_ status: GRPCStatus)
    /// Bytes queued for this stream and not yet taken by HTTP/2 (flow control); a producer that
    /// sees this grow must slow down or drop the stream.
    var pendingOutboundBytes: Int { get }
    var isCancelled: Bool { get }
}

extension GRPCServerStream {
    /// One message at a time, for streams without a batch path.
    public func send(batch messages: [[UInt8]]) {
        for m in messages { send(m) }
    }
}

/// Receives the client's half of a streaming call. Called on the connection's event loop, in
/// order: any number of `received`, then at most one of `receivedEnd` (client half-closed; the
/// server may keep sending) and `cancelled` (stream reset, deadline passed or connection lost;
/// never called after the server finished the call).
public protocol GRPCStreamObserver: AnyObject {
    func received(_ message: [UInt8])
    func receivedEnd()
    func cancelled()
}

/// How large a unary call's answer can be, for the connection's output back-pressure
/// (`SendBacklog`).
public enum GRPCAnswerSize: Sendable, Equatable {
    /// Small whatever the server stores: at most about one stored value (a Put's previous
    /// key-value) or a fixed-size record. Such calls are not held behind large downloads.
    case bounded
    /// May be as large as what the server stores (a range, a txn, a snapshot).
    case unbounded
}

/// The implementation of one method.
public enum GRPCMethodHandler: Sendable {
    /// Called once with the request message, on the connection's event loop.
    case unary(answer: GRPCAnswerSize = .unbounded, @Sendable (GRPCCallContext, [UInt8], any GRPCUnaryResponder) -> Void)
    /// Called once when the request headers arrive, on the connection's event loop; returns the
    /// observer that receives the client's messages.
    case streaming(kind: GRPCMethodKind, @Sendable (GRPCCallContext, any GRPCServerStream) -> any GRPCStreamObserver)

    /// The answer-size class of a unary method (streaming methods bound themselves).
    public var answer: GRPCAnswerSize {
        switch self {
        case .unary(let answer, _): return answer
        case .streaming: return .unbounded
        }
    }

    public var kind: GRPCMethodKind {
        switch self {
        case .unary: return .unary
        case .streaming(let kind, _): return kind
        }
    }
}

/// Told of every gRPC call the router dispatches (go-grpc-prometheus's server metrics): once when
/// it starts, once when it ends with its status (a call the client cancelled or whose connection
/// closed ends as CANCELLED). Called on the connection's event loop; must be quick.
public protocol GRPCCallMetrics: Sendable {
    func started(path: String, kind: GRPCMethodKind)
    /// `seconds`: from the call's start until its end (go-grpc-prometheus's handling time).
    func handled(path: String, kind: GRPCMethodKind, code: GRPCStatusCode, seconds: Double)
    /// Messages of a dispatched call: received from the client, framed for it.
    func received(path: String, kind: GRPCMethodKind, messages: Int)
    func sent(path: String, kind: GRPCMethodKind, messages: Int)
}

/// Maps `/package.Service/Method` paths to handlers. Built before the server starts; immutable
/// afterwards, so it is read from every event loop without locking.
public struct GRPCRouter: Sendable {
    private var methods: [String: GRPCMethodHandler] = [:]
    private var services: Set<String> = []
    /// Call counting, if the server keeps metrics.
    public var metrics: (any GRPCCallMetrics)?

    public init() {}

    public mutating func register(_ path: String, _ handler: GRPCMethodHandler) {
        methods[path] = handler
        if let service = Self.serviceName(of: path) { services.insert(service) }
    }

    public func handler(for path: String) -> GRPCMethodHandler? { methods[path] }

    /// Replaces every registered handler with `transform(path, handler)` (an interceptor in front
    /// of every method, as grpc-go's server interceptors are). Before the server starts.
    public mutating func intercept(_ transform: (String, GRPCMethodHandler) -> GRPCMethodHandler) {
        for (path, handler) in methods { methods[path] = transform(path, handler) }
    }

    /// Every registered method's path and kind, in path order.
    public var registeredMethods: [(path: String, kind: GRPCMethodKind)] {
        methods.map { ($0.key, $0.value.kind) }.sorted { $0.path < $1.path }
    }

    /// grpc-go's UNIMPLEMENTED messages for an unknown service or method.
    public func unimplementedStatus(for path: String) -> GRPCStatus {
        guard let (service, method) = Self.split(path) else {
            return GRPCStatus(.unimplemented, "malformed method name: \"\(path)\"")
        }
        if services.contains(service) {
            return GRPCStatus(.unimplemented, "unknown method \(method) for service \(service)")
        }
        return GRPCStatus(.unimplemented, "unknown service \(service)")
    }

    static func serviceName(of path: String) -> String? { split(path)?.service }

    /// grpc-go's reading of a `:path`: one leading "/" dropped, then service and method split at
    /// the last "/" (so "/a/b/M" is method M of service "a/b"); no "/" left is malformed.
    static func split(_ path: String) -> (service: String, method: String)? {
        var rest = Substring(path)
        if rest.first == "/" { rest = rest.dropFirst() }
        guard let slash = rest.lastIndex(of: "/") else { return nil }
        return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
    }
}
