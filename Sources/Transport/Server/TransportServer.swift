import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Limits and behaviour shared by every client listener.
public struct TransportConfiguration: Sendable {
    /// Largest gRPC message accepted; etcd gives gRPC `--max-request-bytes` + 512 KiB and checks the
    /// request against `--max-request-bytes` itself.
    public var receiveMessageBytesMax: Int
    /// Largest plain HTTP request body (the JSON gateway carries base64 of a request).
    public var httpBodyBytesMax: Int
    /// `--max-concurrent-streams`; nil for etcd's default (unlimited).
    public var maxConcurrentStreams: UInt32?
    /// TCP accept backlog.
    public var backlog: Int32 = 1024

    public init(receiveMessageBytesMax: Int, httpBodyBytesMax: Int, maxConcurrentStreams: UInt32? = nil) {
        self.receiveMessageBytesMax = receiveMessageBytesMax
        self.httpBodyBytesMax = httpBodyBytesMax
        self.maxConcurrentStreams = maxConcurrentStreams
    }
}

/// Accepts client connections on the listen URLs and serves gRPC and HTTP on each: TLS (OpenSSL)
/// on https/unixs URLs, then a sniffer that picks HTTP/2 (nghttp2) or HTTP/1.1 (NIOHTTP1).
///
/// Threading: channels live on the group's event loops; `bind` and `close` may be called from any
/// thread that is not an event loop of the group.
public final class TransportServer: Sendable {
    private let group: any EventLoopGroup
    private let router: GRPCRouter
    private let http: any HTTPRequestHandler
    private let configuration: TransportConfiguration
    private let logger: Logger

    public init(group: any EventLoopGroup, router: GRPCRouter, http: any HTTPRequestHandler,
                configuration: TransportConfiguration, logger: Logger) {
        self.group = group
        self.router = router
        self.http = http
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts listening. Returns the bound channel (its `localAddress` has the real port when the
    /// URL asked for port 0).
    ///
    /// `serving` picks what the listener serves: both (a client URL), HTTP only (gRPC calls are
    /// answered UNIMPLEMENTED: `--listen-metrics-urls`, `--listen-client-http-urls`), or gRPC
    /// only (every HTTP path is 404: client URLs once `--listen-client-http-urls` takes HTTP).
    public func bind(_ url: ListenURL, tls: TLSContext?, serving: Serving = .grpcAndHTTP) -> EventLoopFuture<any Channel> {
        if url.isTLS && tls == nil {
            return group.next().makeFailedFuture(TLSError.configuration("\(url) needs --cert-file and --key-file (or --auto-tls)"))
        }
        let router = serving == .httpOnly ? GRPCRouter() : self.router
        let http: any HTTPRequestHandler = serving == .grpcOnly ? NotFoundHTTPHandler() : self.http
        let configuration = self.configuration
        let logger = self.logger
        let tlsContext = url.isTLS ? tls : nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.initialize(channel: channel, tls: tlsContext, router: router, http: http,
                                        configuration: configuration, logger: logger)
                }
            }
        if url.isUnix {
            return bootstrap.bind(unixDomainSocketPath: url.path, cleanupExistingSocketFile: true)
        }
        return bootstrap.bind(host: url.bindHost, port: url.port)
    }

    public enum Serving: Sendable {
        case grpcAndHTTP
        case httpOnly
        case grpcOnly
    }

    private static func initialize(channel: any Channel, tls: TLSContext?, router: GRPCRouter, http: any HTTPRequestHandler,
                                   configuration: TransportConfiguration, logger: Logger) throws {
        try TransportPipeline.configure(channel: channel, tls: tls, router: router, http: http,
                                        configuration: configuration, logger: logger)
    }
}

/// The handlers `TransportServer` installs on each accepted connection, for harnesses that drive
/// a channel of their own (the fuzz target, tests): TLS when a context is given, then the
/// sniffer that installs HTTP/2 (nghttp2) or HTTP/1.1 (NIOHTTP1) on the first bytes.
public enum TransportPipeline {
    /// Adds the handlers to `channel`'s pipeline. Call on the channel's event loop.
    public static func configure(channel: any Channel, tls: TLSContext?, router: GRPCRouter, http: any HTTPRequestHandler,
                                 configuration: TransportConfiguration, logger: Logger) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tls {
            try pipeline.addHandler(TLSHandler(context: tls, logger: logger))
        }
        let remote = channel.remoteAddress
        let sniffer = ProtocolSniffer { context, detected, handshake in
            let peer = PeerInfo(remoteAddress: remote, certificateCommonName: handshake?.peerCommonName)
            let ops = context.pipeline.syncOperations
            switch detected {
            case .http2:
                let handler = HTTP2ServerHandler(configuration: .init(
                    router: router, http: http,
                    receiveMessageBytesMax: configuration.receiveMessageBytesMax,
                    httpBodyBytesMax: configuration.httpBodyBytesMax,
                    maxConcurrentStreams: configuration.maxConcurrentStreams,
                    peer: peer, logger: logger))
                try ops.addHandler(handler, position: .after(context.handler))
            case .http1:
                let handler = HTTP1RequestHandler(handler: http, bodyBytesMax: configuration.httpBodyBytesMax, peer: peer)
                try ops.addHandler(handler, position: .after(context.handler))
                try ops.configureHTTPServerPipeline(position: .after(context.handler), withErrorHandling: true)
            }
        }
        try pipeline.addHandler(sniffer)
    }
}

/// Every plain HTTP request is 404 (a client URL whose HTTP moved to `--listen-client-http-urls`).
struct NotFoundHTTPHandler: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        respond(.text(404, "404 page not found\n"))
    }
}
