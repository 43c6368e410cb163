import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import Transport

/// `HTTP2ServerHandler` on an `EmbeddedChannel`, with an `NGHTTP2TestClient` on the other end.
/// `pump()` moves bytes both ways until neither side has anything more to say.
final class ServerHarness {
    let channel = EmbeddedChannel()
    let client: NGHTTP2TestClient
    let handler: HTTP2ServerHandler
    /// Bytes the handler wrote to the channel so far.
    private(set) var bytesWritten = 0
    /// Every byte the client sent, in order (seed inputs for the fuzzer).
    private(set) var clientBytesSent: [UInt8] = []

    init(router: GRPCRouter, http: any HTTPRequestHandler = RecordingHTTPHandler(),
         messageBytesMax: Int = 4 << 20, maxConcurrentStreams: UInt32? = nil,
         client: NGHTTP2TestClient = NGHTTP2TestClient(),
         configure: (inout HTTP2ServerHandler.Configuration) -> Void = { _ in }) throws {
        var configuration = HTTP2ServerHandler.Configuration(
            router: router, http: http, receiveMessageBytesMax: messageBytesMax, httpBodyBytesMax: 64 * 1024,
            maxConcurrentStreams: maxConcurrentStreams, logger: Logger(label: "test"))
        configure(&configuration)
        self.client = client
        self.handler = HTTP2ServerHandler(configuration: configuration)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// Client output → server, server output → client, tasks on the loop, until quiet.
    /// `clientReads`: false leaves the server's output in the channel (the client is not reading).
    func pump(rounds: Int = 100_000) throws {
        for _ in 0..<rounds {
            var progressed = false
            channel.embeddedEventLoop.run()
            let out = client.produce()
            if !out.isEmpty, channel.isActive {
                clientBytesSent += out
                try channel.writeInbound(ByteBuffer(bytes: out))
                progressed = true
            }
            if deliverToClient() { progressed = true }
            if !progressed { return }
        }
        Issue.record("pump did not settle")
    }

    /// Hands everything the server wrote to the client; true if there was anything.
    @discardableResult
    func deliverToClient() -> Bool {
        var any = false
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
            bytesWritten += buffer.readableBytes
            client.receive(buffer)
            any = true
        }
        return any
    }

    /// Raw bytes to the server, as if from the socket.
    func inject(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }
}

/// Shared mutable state for test method handlers (they must be `@Sendable`).
final class Box<Value>: @unchecked Sendable {
    private let lock = NIOLock()
    private var _value: Value
    init(_ value: Value) { _value = value }
    var value: Value {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
    func mutate<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&_value) } }
}

/// A streaming observer that records what it was told and can echo messages back.
final class RecordingObserver: GRPCStreamObserver {
    enum Event: Equatable {
        case received([UInt8])
        case end
        case cancelled
    }

    let stream: any GRPCServerStream
    var events: [Event] = []
    let echo: Bool
    let finishOnEnd: Bool
    var onCancelled: (() -> Void)?

    init(stream: any GRPCServerStream, echo: Bool, finishOnEnd: Bool) {
        self.stream = stream
        self.echo = echo
        self.finishOnEnd = finishOnEnd
    }

    func received(_ message: [UInt8]) {
        events.append(.received(message))
        if echo { stream.send(message) }
    }

    func receivedEnd() {
        events.append(.end)
        if finishOnEnd { stream.finish(.ok) }
    }

    func cancelled() {
        events.append(.cancelled)
        onCancelled?()
    }
}

final class RecordingHTTPHandler: HTTPRequestHandler, @unchecked Sendable {
    let requests = Box<[HTTPRequest]>([])
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        requests.mutate { $0.append(request) }
        respond(.text(200, "hello \(request.path)?\(request.query)\n"))
    }
}

/// The router the handler tests use: `test.Echo` with
/// - `Unary`: echoes the request;
/// - `Hold`: keeps the responder in `held` for the test to answer (or not);
/// - `Big`: answers with `bigResponseBytes` bytes;
/// - `Bidi`: echoes every message and finishes OK when the client half-closes;
/// - `Listen`: records messages, never answers (a watch-like stream); observers go to `observers`.
final class TestService: @unchecked Sendable {
    static let bigResponseBytes = 10 << 20
    let held = Box<[any GRPCUnaryResponder]>([])
    let heldContexts = Box<[GRPCCallContext]>([])
    let observers = Box<[RecordingObserver]>([])
    let unaryCalls = Box(0)

    var router: GRPCRouter {
        var r = GRPCRouter()
        let me = self
        r.register("/test.Echo/Unary", .unary { _, request, responder in
            me.unaryCalls.mutate { $0 += 1 }
            responder.respond(request)
        })
        r.register("/test.Echo/Hold", .unary { context, _, responder in
            me.unaryCalls.mutate { $0 += 1 }
            me.held.mutate { $0.append(responder) }
            me.heldContexts.mutate { $0.append(context) }
        })
        r.register("/test.Echo/Big", .unary { _, _, responder in
            responder.respond((0..<TestService.bigResponseBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        })
        r.register("/test.Echo/Bidi", .streaming(kind: .bidirectionalStreaming) { _, stream in
            let o = RecordingObserver(stream: stream, echo: true, finishOnEnd: true)
            me.observers.mutate { $0.append(o) }
            return o
        })
        r.register("/test.Echo/Listen", .streaming(kind: .bidirectionalStreaming) { _, stream in
            let o = RecordingObserver(stream: stream, echo: false, finishOnEnd: false)
            me.observers.mutate { $0.append(o) }
            return o
        })
        return r
    }
}
