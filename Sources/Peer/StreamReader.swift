import EtcdProto
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Transport

/// Our end of one stream from a remote member (etcd's `streamReader`): we GET its
/// `/raft/stream/<type>/<our id>` and decode the messages it writes into the response body,
/// handing them to raft. When the stream fails or ends, we dial again (at most every
/// `redialInterval`, moving to the member's next peer URL after a failure); a stream that brings
/// no byte for `readTimeout` is dead (the remote sends a link heartbeat every 1.7 s).
///
/// Threading: `start`/`stop`/`updateURLs` from any thread; dialing and decoding on event loops.
final class StreamReader: Sendable {
    /// etcd's `DialRetryFrequency`.
    static let redialInterval = TimeAmount.milliseconds(100)
    /// etcd's `ConnReadTimeout`.
    static let readTimeout = TimeAmount.seconds(5)

    let type: StreamType
    let remoteID: UInt64
    private let context: PeerContext
    private let state = Mutex(State())

    private struct State {
        var urls: [String] = []
        var urlIndex = 0
        var stopped = true
        var channel: (any Channel)?
        var active = false
        /// A failure was logged since the stream was last up.
        var reportedFailure = false
    }

    init(type: StreamType, remoteID: UInt64, urls: [String], context: PeerContext) {
        self.type = type
        self.remoteID = remoteID
        self.context = context
        state.withLock { $0.urls = urls }
    }

    /// Whether the stream is up (the remote answered 200 and the connection lives).
    var isActive: Bool { state.withLock { $0.active } }

    func start() {
        let start = state.withLock { s -> Bool in
            guard s.stopped else { return false }
            s.stopped = false
            return true
        }
        if start { dial() }
    }

    func stop() {
        let channel = state.withLock { s -> (any Channel)? in
            s.stopped = true
            s.active = false
            defer { s.channel = nil }
            return s.channel
        }
        channel?.close(promise: nil)
    }

    func updateURLs(_ urls: [String]) {
        state.withLock {
            $0.urls = urls
            $0.urlIndex = 0
        }
    }

    private func currentURL() -> String? {
        state.withLock { s in s.urls.isEmpty ? nil : s.urls[s.urlIndex % s.urls.count] }
    }

    /// After a failure: the next URL (etcd's urlPicker).
    private func failed() {
        state.withLock { s in
            s.active = false
            s.urlIndex += 1
        }
    }

    /// The connection failed before or while the stream ran (a refused TLS handshake, say):
    /// logged when the stream was up or had never failed before, as etcd's peer status logs
    /// "peer became inactive" once per outage.
    fileprivate func dialFailed(_ error: any Error) {
        let log = state.withLock { s -> Bool in
            defer { s.reportedFailure = true }
            return s.active || !s.reportedFailure
        }
        failed()
        context.peerDeactivated(remoteID)
        if log {
            context.logger.warning("peer became inactive (message send to peer failed)", metadata: [
                "peer-id": "\(PeerProtocol.idString(remoteID))", "stream-type": "\(type.rawValue)", "error": "\(error)",
            ])
        }
    }

    private func dial() {
        guard !state.withLock({ $0.stopped }), let urlText = currentURL() else { return }
        guard let url = try? ListenURL(parsing: urlText) else {
            failed()
            scheduleRedial()
            return
        }
        let path = (type == .msgApp ? PeerProtocol.streamMsgAppPrefix : PeerProtocol.streamMessagePrefix) + PeerProtocol.idString(context.services.localID)
        let (type, local, remote, context) = (self.type, context.services.localID, remoteID, self.context)
        HTTP1Connector.connect(group: context.group, url: url, tls: context.clientTLS, connectTimeout: context.dialTimeout, logger: context.logger) {
            StreamReaderHandler(reader: self, decoder: StreamDecoder(type: type, local: local, remote: remote), context: context)
        }.whenComplete { result in
            switch result {
            case .failure:
                self.failed()
                self.scheduleRedial()
            case .success(let channel):
                let keep = self.state.withLock { s -> Bool in
                    guard !s.stopped else { return false }
                    s.channel = channel
                    return true
                }
                guard keep else {
                    channel.close(promise: nil)
                    return
                }
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                head.headers.add(name: "Host", value: url.isUnix ? "localhost" : "\(url.host):\(url.port)")
                for (name, value) in self.context.requestHeaders(to: self.remoteID) { head.headers.add(name: name, value: value) }
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                channel.closeFuture.whenComplete { _ in
                    let (wasCurrent, wasActive) = self.state.withLock { s -> (Bool, Bool) in
                        guard s.channel === channel else { return (false, false) }
                        defer {
                            s.channel = nil
                            s.active = false
                        }
                        return (true, s.active)
                    }
                    // etcd's stream reader deactivates the peer when its stream breaks.
                    if wasActive { context.peerDeactivated(self.remoteID) }
                    if wasCurrent { self.scheduleRedial() }
                }
            }
        }
    }

    private func scheduleRedial() {
        guard !state.withLock({ $0.stopped }) else { return }
        context.group.next().scheduleTask(in: Self.redialInterval) { self.dial() }
    }

    /// The remote answered 200: the stream is up.
    fileprivate func established() {
        state.withLock {
            $0.active = true
            $0.reportedFailure = false
        }
        context.logger.info("established TCP streaming connection with remote peer", metadata: [
            "stream-reader-type": "\(type.logName)", "local-member-id": "\(PeerProtocol.idString(context.services.localID))",
            "remote-peer-id": "\(PeerProtocol.idString(remoteID))",
        ])
    }

    fileprivate func refused() {
        failed()
    }
}

/// Decodes one stream's body in its codec.
struct StreamDecoder {
    private var message = MessageCodec.Decoder()
    private var msgApp: MsgAppV2Codec.Decoder
    let type: StreamType

    init(type: StreamType, local: UInt64, remote: UInt64) {
        self.type = type
        self.msgApp = MsgAppV2Codec.Decoder(local: local, remote: remote)
    }

    mutating func next(_ buffer: inout ByteBuffer) throws -> Message? {
        switch type {
        case .message: try message.next(&buffer)
        case .msgApp: try msgApp.next(&buffer)
        }
    }
}

/// Reads one stream's response. Event loop only (its watchdog runs there too; hence
/// `@unchecked Sendable`).
final class StreamReaderHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private weak var reader: StreamReader?
    private var decoder: StreamDecoder
    private let context: PeerContext
    private var buffer: ByteBuffer?
    private var accepted = false
    /// The body of a 412 answer, read to say why (etcd's stream reader does the same).
    private var refusal: String?
    private var lastReadNanoseconds = NIODeadline.now()
    private var watchdog: RepeatedTask?

    init(reader: StreamReader, decoder: StreamDecoder, context: PeerContext) {
        self.reader = reader
        self.decoder = decoder
        self.context = context
    }

    func channelActive(context ctx: ChannelHandlerContext) {
        lastReadNanoseconds = .now()
        let channel = ctx.channel
        watchdog = ctx.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            guard let self else { return }
            if NIODeadline.now() - self.lastReadNanoseconds > StreamReader.readTimeout {
                channel.close(promise: nil)
            }
        }
        ctx.fireChannelActive()
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        watchdog?.cancel()
        ctx.fireChannelInactive()
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        lastReadNanoseconds = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard let reader else { return ctx.close(promise: nil) }
            // etcd refuses a stream whose answer does not say the server's version.
            guard let version = head.headers.first(name: PeerProtocol.Header.serverVersion), PeerProtocol.majorMinor(version) != nil else {
                reader.refused()
                return ctx.close(promise: nil)
            }
            switch head.status {
            case .ok:
                accepted = true
                buffer = ctx.channel.allocator.buffer(capacity: 4096)
                reader.established()
                context.peerActivated(reader.remoteID)
            case .gone:
                // etcd's `errMemberRemoved`: the member stops (once, however many streams hear it).
                context.services.removedFromCluster(by: reader.remoteID)
                reader.refused()
                ctx.close(promise: nil)
            case .preconditionFailed:
                // Why is in the body: read it first.
                refusal = ""
            default:
                context.logger.debug("peer refused a stream", metadata: [
                    "remote-peer-id": "\(PeerProtocol.idString(reader.remoteID))", "status": "\(head.status.code)", "stream-type": "\(reader.type.rawValue)",
                ])
                reader.refused()
                ctx.close(promise: nil)
            }
        case .body(var part) where refusal != nil:
            if refusal!.utf8.count < 1024 { refusal! += part.readString(length: part.readableBytes) ?? "" }
        case .body(var part):
            guard accepted, var pending = buffer else { return }
            if let reader { context.metrics?.received(from: reader.remoteID, bytes: part.readableBytes) }
            pending.writeBuffer(&part)
            do {
                while let message = try decoder.next(&pending) {
                    if MessageCodec.isLinkHeartbeat(message) { continue }
                    _ = context.services.process(message)
                }
            } catch {
                if let reader { context.metrics?.receiveFailed(from: reader.remoteID) }
                context.logger.warning("lost a stream from a peer: malformed data", metadata: [
                    "remote-peer-id": "\(PeerProtocol.idString(reader?.remoteID ?? 0))", "error": "\(error)",
                ])
                buffer = nil
                return ctx.close(promise: nil)
            }
            pending.discardReadBytes()
            buffer = pending
        case .end:
            if let refusal, let reader { refusedWithReason(refusal, reader: reader) }
            ctx.close(promise: nil)
        }
    }

    /// etcd's stream reader on a 412: a warning that names the reason.
    private func refusedWithReason(_ body: String, reader: StreamReader) {
        let reason = body.hasSuffix("\n") ? String(body.dropLast()) : body
        var metadata: Logger.Metadata = [
            "stream-reader-type": "\(reader.type.logName)", "local-member-id": "\(PeerProtocol.idString(context.services.localID))",
            "remote-peer-id": "\(PeerProtocol.idString(reader.remoteID))",
        ]
        switch reason {
        case "incompatible version":
            context.logger.warning("request sent was ignored by remote peer due to server version incompatibility", metadata: metadata)
        case "cluster ID mismatch":
            metadata["local-member-cluster-id"] = "\(PeerProtocol.idString(context.services.clusterID))"
            context.logger.warning("request sent was ignored by remote peer due to cluster ID mismatch", metadata: metadata)
        default:
            metadata["error"] = "unhandled error \"\(reason)\" when precondition failed"
            context.logger.warning("failed to dial stream", metadata: metadata)
        }
        reader.refused()
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: any Error) {
        reader?.dialFailed(error)
        ctx.close(promise: nil)
    }
}
