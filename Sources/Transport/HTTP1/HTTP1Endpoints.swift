import Dispatch
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A listener that serves plain HTTP/1.1 with whatever handler the caller installs after the
/// HTTP codec (a member's peer port): TLS on https/unixs URLs, then NIOHTTP1's server codec, then
/// the handler, which sees `HTTPServerRequestPart`s as they arrive (request bodies are streamed,
/// never aggregated here) and writes `HTTPServerResponsePart`s (a response without a length is
/// sent chunked, so it may stream for as long as the connection lives).
///
/// Threading: `bind` may be called from any thread that is not one of the group's event loops;
/// `makeHandler` runs on the accepted channel's event loop.
public enum HTTP1Listener {
    public static func bind(
        group: any EventLoopGroup, url: ListenURL, tls: TLSContext?, logger: Logger,
        makeHandler: @escaping @Sendable (any Channel, PeerInfo) -> any ChannelHandler
    ) -> EventLoopFuture<any Channel> {
        if url.isTLS && tls == nil {
            return group.next().makeFailedFuture(TLSError.configuration("\(url) needs --peer-cert-file and --peer-key-file (or --peer-auto-tls)"))
        }
        let tlsContext = url.isTLS ? tls : nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tlsContext { try ops.addHandler(TLSHandler(context: tlsContext, logger: logger)) }
                    try ops.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try ops.addHandler(PeerCertificateRecorder(
                        channel: channel, checksSubjectAltNames: tlsContext?.configuration.verifiesClientSubjectAltNames ?? false,
                        logger: logger, makeHandler: makeHandler))
                }
            }
        if url.isUnix {
            return bootstrap.bind(unixDomainSocketPath: url.path, cleanupExistingSocketFile: true)
        }
        return bootstrap.bind(host: url.bindHost, port: url.port)
    }
}

/// Installs the caller's handler once the peer is known: at once for plain TCP, after the TLS
/// handshake (its certificate's common name) otherwise, and, when the listener checks client
/// SANs (etcd's peer `checkSAN`), only after the certificate was found to name the connecting
/// address (a DNS lookup, done off the event loop). Request parts that arrive first wait; a
/// refused connection is logged and closed.
final class PeerCertificateRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    private enum State {
        /// Before the handshake verdict (or any byte, for plain TCP).
        case waiting
        /// Checking the certificate's SANs; reads are held.
        case checking
        case installed
        case refused
    }

    private let makeHandler: @Sendable (any Channel, PeerInfo) -> any ChannelHandler
    private let checksSubjectAltNames: Bool
    private let logger: Logger?
    private var state = State.waiting
    private var commonName: String?
    private var held: [NIOAny] = []

    init(channel: any Channel, checksSubjectAltNames: Bool = false, logger: Logger? = nil,
         makeHandler: @escaping @Sendable (any Channel, PeerInfo) -> any ChannelHandler) {
        self.makeHandler = makeHandler
        self.checksSubjectAltNames = checksSubjectAltNames
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted {
            commonName = done.peerCommonName
            let names = done.peerSubjectAltNames
            if checksSubjectAltNames, state == .waiting, let remoteIP = context.channel.remoteAddress?.ipAddress,
               !(names.ipAddresses.isEmpty && names.dnsNames.isEmpty) {
                state = .checking
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                Self.checkQueue.async {
                    let refusal = names.check(remoteIP: remoteIP)
                    loop.execute {
                        let (recorder, context) = bound.value
                        recorder.checked(context: context, refusal: refusal)
                    }
                }
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .waiting:
            install(context: context)
            context.fireChannelRead(data)
        case .checking:
            held.append(data)
        case .installed:
            context.fireChannelRead(data)
        case .refused:
            break
        }
    }

    private func checked(context: ChannelHandlerContext, refusal: String?) {
        guard state == .checking else { return }
        if let refusal {
            state = .refused
            held.removeAll()
            logger?.warning("rejected connection on peer endpoint", metadata: [
                "remote-addr": "\(context.channel.remoteAddress.map { "\($0)" } ?? "")", "error": "\(refusal)",
            ])
            context.close(promise: nil)
            return
        }
        install(context: context)
        let parts = held
        held.removeAll()
        for part in parts { context.fireChannelRead(part) }
        if !parts.isEmpty { context.fireChannelReadComplete() }
    }

    private func install(context: ChannelHandlerContext) {
        state = .installed
        let peer = PeerInfo(remoteAddress: context.channel.remoteAddress, certificateCommonName: commonName)
        let handler = makeHandler(context.channel, peer)
        do {
            try context.pipeline.syncOperations.addHandler(handler, position: .after(self))
        } catch {
            state = .refused
            context.close(promise: nil)
        }
    }

    /// Where the (blocking) DNS lookups of SAN checks run.
    private static let checkQueue = DispatchQueue(label: "peer-san-check", attributes: .concurrent)
}

/// Dials an HTTP/1.1 server (a peer's URL): TCP or unix socket, TLS when the URL says so (the
/// client role of `tls`; the URL's host is the name the server's certificate must carry), then
/// NIOHTTP1's client codec, then the caller's handler, which writes `HTTPClientRequestPart`s and
/// sees `HTTPClientResponsePart`s as they arrive (a chunked or until-close body is streamed).
public enum HTTP1Connector {
    public static func connect(
        group: any EventLoopGroup, url: ListenURL, tls: TLSContext?, connectTimeout: TimeAmount, logger: Logger,
        handler: @escaping @Sendable () -> any ChannelHandler
    ) -> EventLoopFuture<any Channel> {
        if url.isTLS && tls == nil {
            return group.next().makeFailedFuture(TLSError.configuration("\(url) needs peer TLS (--peer-cert-file, --peer-key-file or --peer-auto-tls)"))
        }
        let tlsContext = url.isTLS ? tls : nil
        let serverName = url.isUnix ? nil : url.host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tlsContext {
                        try ops.addHandler(TLSHandler(context: tlsContext, serverName: serverName, logger: logger))
                    }
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(handler())
                }
            }
        if url.isUnix { return bootstrap.connect(unixDomainSocketPath: url.path) }
        return bootstrap.connect(host: url.host == "localhost" ? "127.0.0.1" : url.host, port: url.port)
    }
}
