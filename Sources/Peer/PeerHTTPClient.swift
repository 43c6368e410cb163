import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Transport

/// Plain request/response exchanges with peers (pipeline messages, lease forwarding, `/members`,
/// `/version`), over kept-alive connections: per URL, idle connections wait in a small pool and
/// are reused (etcd's pipeline round tripper keeps up to 1024 per host; a handful suffices
/// here). One request at a time per connection. Any thread.
final class PeerHTTPClient: Sendable {
    struct Response: Sendable {
        var head: HTTPResponseHead
        var body: ByteBuffer

        var status: HTTPResponseStatus { head.status }
        var bodyString: String { String(buffer: body) }
        /// The body as Go's clients compare it: one trailing newline trimmed.
        var errorText: String {
            var text = bodyString
            if text.hasSuffix("\n") { text.removeLast() }
            return text
        }
    }

    enum ClientError: Error, CustomStringConvertible {
        case invalidURL(String)
        case closedBeforeResponse
        case responseTooLarge
        case timedOut

        var description: String {
            switch self {
            case .invalidURL(let url): "invalid peer URL \(url)"
            case .closedBeforeResponse: "connection closed before the response ended"
            case .responseTooLarge: "response body too large"
            case .timedOut: "request timed out"
            }
        }
    }

    /// Idle connections kept per URL.
    static let idleConnectionsMax = 8
    /// A response body, at most (etcd refuses lease answers over 100 MiB).
    static let responseBodyBytesMax = 100 << 20

    private let group: any EventLoopGroup
    private let tls: TLSContext?
    private let dialTimeout: TimeAmount
    private let logger: Logger
    private let idle = Mutex<[String: [any Channel]]>([:])

    init(group: any EventLoopGroup, tls: TLSContext?, dialTimeout: TimeAmount, logger: Logger) {
        self.group = group
        self.tls = tls
        self.dialTimeout = dialTimeout
        self.logger = logger
    }

    /// Sends one request to `url` + `path` and gathers the response. `timeout` bounds the whole
    /// exchange (nil: only the dial is bounded, as etcd's pipeline client).
    func request(_ url: String, method: HTTPMethod, path: String, headers: [(String, String)] = [],
                 body: ByteBuffer? = nil, timeout: TimeAmount? = nil) -> EventLoopFuture<Response> {
        let listen: ListenURL
        do {
            listen = try ListenURL(parsing: url)
        } catch {
            return group.next().makeFailedFuture(ClientError.invalidURL(url))
        }
        let channelFuture: EventLoopFuture<any Channel>
        if let channel = takeIdle(url) {
            channelFuture = channel.eventLoop.makeSucceededFuture(channel)
        } else {
            channelFuture = HTTP1Connector.connect(group: group, url: listen, tls: tls, connectTimeout: dialTimeout, logger: logger) {
                ExchangeHandler()
            }
        }
        return channelFuture.flatMap { channel in
            let promise = channel.eventLoop.makePromise(of: Response.self)
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: listen.isUnix ? "localhost" : "\(listen.host):\(listen.port)")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.add(name: "Content-Length", value: "\(body?.readableBytes ?? 0)")
            let exchange = Exchange(head: head, body: body, promise: promise)
            channel.pipeline.handler(type: ExchangeHandler.self).whenComplete { result in
                switch result {
                case .success(let handler): handler.start(exchange, channel: channel)
                case .failure(let error): promise.fail(error)
                }
            }
            if let timeout {
                let task = channel.eventLoop.scheduleTask(in: timeout) {
                    promise.fail(ClientError.timedOut)
                    channel.close(promise: nil)
                }
                promise.futureResult.whenComplete { _ in task.cancel() }
            }
            return promise.futureResult.map { response in
                let keepAlive = !(response.head.headers.first(name: "Connection")?.lowercased() == "close")
                if keepAlive && channel.isActive { self.putIdle(url, channel) } else { channel.close(promise: nil) }
                return response
            }
        }
    }

    private func takeIdle(_ url: String) -> (any Channel)? {
        idle.withLock { pools in
            while var list = pools[url], let channel = list.popLast() {
                pools[url] = list
                if channel.isActive { return channel }
            }
            return nil
        }
    }

    private func putIdle(_ url: String, _ channel: any Channel) {
        let kept = idle.withLock { pools -> Bool in
            var list = pools[url, default: []]
            guard list.count < Self.idleConnectionsMax else { return false }
            list.append(channel)
            pools[url] = list
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    /// Closes every idle connection.
    func shutdown() {
        let all = idle.withLock { pools -> [any Channel] in
            let channels = pools.values.flatMap { $0 }
            pools = [:]
            return channels
        }
        for channel in all { channel.close(promise: nil) }
    }
}

struct Exchange {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var promise: EventLoopPromise<PeerHTTPClient.Response>
}

/// Carries one exchange at a time on a client connection. Event loop only (`start` hops there;
/// hence `@unchecked Sendable`).
final class ExchangeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var current: Exchange?
    private var responseHead: HTTPResponseHead?
    private var body: ByteBuffer?

    func start(_ exchange: Exchange, channel: any Channel) {
        guard channel.eventLoop.inEventLoop else {
            channel.eventLoop.execute { self.start(exchange, channel: channel) }
            return
        }
        guard current == nil, channel.isActive else {
            exchange.promise.fail(PeerHTTPClient.ClientError.closedBeforeResponse)
            return
        }
        current = exchange
        responseHead = nil
        body = channel.allocator.buffer(capacity: 0)
        channel.write(HTTPClientRequestPart.head(exchange.head), promise: nil)
        if let b = exchange.body, b.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(b)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
            if let current = self.current {
                self.current = nil
                current.promise.fail(error)
            }
        }
    }

    /// Waits for a response to a request the caller writes itself (a streamed snapshot body).
    func expect(_ promise: EventLoopPromise<PeerHTTPClient.Response>) {
        current = Exchange(head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/"), body: nil, promise: promise)
        responseHead = nil
        body = ByteBufferAllocator().buffer(capacity: 0)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseHead = head
        case .body(var part):
            if (body?.readableBytes ?? 0) + part.readableBytes > PeerHTTPClient.responseBodyBytesMax {
                current?.promise.fail(PeerHTTPClient.ClientError.responseTooLarge)
                current = nil
                context.close(promise: nil)
                return
            }
            body?.writeBuffer(&part)
        case .end:
            guard let exchange = current, let head = responseHead else { return }
            current = nil
            exchange.promise.succeed(PeerHTTPClient.Response(head: head, body: body ?? context.channel.allocator.buffer(capacity: 0)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange = current {
            current = nil
            exchange.promise.fail(PeerHTTPClient.ClientError.closedBeforeResponse)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange = current {
            current = nil
            exchange.promise.fail(error)
        }
        context.close(promise: nil)
    }
}
