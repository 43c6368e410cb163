import Logging
import NIOCore

/// Serves gRPC (and plain HTTP requests that arrive over HTTP/2) on one connection, with nghttp2
/// doing the HTTP/2 framing through its memory API.
///
/// Pipeline position: below it, plaintext bytes (straight from the socket or from the TLS
/// handler); it writes plaintext bytes back. Every method runs on the connection's event loop.
/// Responses produced on other threads reach it through `HTTP2ConnectionSink`, which batches them
/// into one event-loop task and one socket write.
///
/// Output is pulled, never pushed: nghttp2 asks each stream's data source for bytes only as the
/// peer's flow-control window allows, and the handler stops asking nghttp2 for frames while the
/// channel is not writable, so a client that stops reading cannot make us buffer more than what
/// producers queued on its streams (`pendingOutboundBytes`, which they must watch).
final class HTTP2ServerHandler: ChannelDuplexHandler, NGHTTP2SessionDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Configuration: Sendable {
        var router: GRPCRouter
        var http: any HTTPRequestHandler
        /// Largest gRPC message accepted (etcd: --max-request-bytes + 512 KiB of gRPC overhead).
        var receiveMessageBytesMax: Int
        /// Largest plain HTTP request body accepted.
        var httpBodyBytesMax: Int
        var maxConcurrentStreams: UInt32?
        /// Most header bytes per request.
        var headerBytesMax: Int = 64 * 1024
        var peer: PeerInfo = PeerInfo()
        var logger: Logger
    }

    /// Bytes of frames taken from nghttp2 per socket write.
    static let writeChunkBytes = 256 * 1024

    private var configuration: Configuration
    private var session: NGHTTP2Session?
    private var streams: [Int32: HTTP2StreamState] = [:]
    private var context: ChannelHandlerContext?
    private var sink: HTTP2ConnectionSink?
    /// Work found while nghttp2 was inside `mem_recv`, run after it returns.
    private var pendingWork: [(Int32, PendingWork)] = []
    private var inReceive = false
    private var flushNeeded = false
    private var closed = false

    private enum PendingWork {
        case dispatch
        case message([UInt8])
        case end
        case cancel
        case fail(GRPCStatus)
    }

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let sink = HTTP2ConnectionSink(eventLoop: context.eventLoop)
        sink.handler = self
        self.sink = sink
        do {
            session = try NGHTTP2Session(
                delegate: self,
                settings: .init(maxConcurrentStreams: configuration.maxConcurrentStreams))
        } catch {
            configuration.logger.warning("http2 session setup failed", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { flushOutput() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAllStreams()
        sink?.handler = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        flushOutput()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAllStreams()
        closed = true
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let session, !closed else { return }
        inReceive = true
        do {
            try buffer.withUnsafeReadableBytes { try session.receive($0) }
        } catch {
            configuration.logger.debug("http2 protocol error", metadata: ["error": "\(error)"])
            inReceive = false
            flushOutput()
            close()
            return
        }
        inReceive = false
        runPendingWork()
        flushNeeded = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flushNeeded { flushOutput() }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushOutput() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        configuration.logger.debug("connection error", metadata: ["error": "\(error)"])
        close()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            session?.submitGoAway()
            flushOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func close() {
        guard !closed, let context else { return }
        closed = true
        cancelAllStreams()
        context.close(promise: nil)
    }

    private func cancelAllStreams() {
        let open = streams.values
        streams.removeAll()
        for stream in open where !stream.finished && !stream.cancelled {
            stream.cancelled = true
            stream.deadlineTask?.cancel()
            stream.observer?.cancelled()
            stream.observer = nil
        }
    }

    // MARK: output

    /// Moves every frame nghttp2 has ready onto the socket, in chunks, while the channel is
    /// writable. Called after input, after responses, and when the channel becomes writable.
    func flushOutput() {
        flushNeeded = false
        guard let context, let session, !closed else { return }
        var wrote = false
        while context.channel.isWritable {
            var buffer = context.channel.allocator.buffer(capacity: 16 * 1024)
            let more: Bool
            do {
                more = try session.send(into: &buffer, limitBytes: Self.writeChunkBytes)
            } catch {
                configuration.logger.debug("http2 send failed", metadata: ["error": "\(error)"])
                close()
                return
            }
            if buffer.readableBytes > 0 {
                context.write(wrapOutboundOut(buffer), promise: nil)
                wrote = true
            }
            if !more { break }
        }
        if wrote { context.flush() }
        if !session.wantsRead && !session.wantsWrite {
            close()
        }
    }

    private func requestFlush() {
        if inReceive { flushNeeded = true } else { flushOutput() }
    }

    /// After operations applied from the sink: one write for the whole batch.
    func flushOutputSoon() {
        requestFlush()
    }

    // MARK: NGHTTP2SessionDelegate (inside mem_recv / mem_send)

    func streamBegan(_ streamID: Int32) {
        guard let context else { return }
        streams[streamID] = HTTP2StreamState(id: streamID, allocator: context.channel.allocator)
    }

    func header(_ streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let stream = streams[streamID] else { return }
        stream.headerBytes += name.count + value.count
        if stream.headerBytes > configuration.headerBytesMax { return }
        let n = String(decoding: name, as: UTF8.self)
        let v = String(decoding: value, as: UTF8.self)
        switch n {
        case ":method": stream.method = v
        case ":path": stream.path = v
        case "content-type": stream.contentType = v
        case "grpc-timeout": stream.timeout = v
        case ":scheme", ":authority", "te", "user-agent", "grpc-accept-encoding", "accept-encoding", "content-length":
            // The :authority and user-agent are not metadata etcd looks at.
            break
        default:
            if n.hasPrefix(":") { break }
            stream.metadata.append((n, v))
        }
    }

    func headersEnded(_ streamID: Int32, endStream: Bool) {
        guard let stream = streams[streamID] else { return }
        if case .pending = stream.role {
            classify(stream)
        }
        if endStream { remoteEnded(stream) }
    }

    func data(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard let stream = streams[streamID] else { return }
        switch stream.role {
        case .grpc(let handler):
            guard stream.deframer != nil else { return }
            stream.deframer!.append(bytes)
            drainMessages(stream, handler: handler)
        case .http:
            if stream.httpBody!.readableBytes + bytes.count > configuration.httpBodyBytesMax {
                stream.role = .rejected
                pendingWork.append((streamID, .fail(GRPCStatus(.resourceExhausted, "request body too large"))))
                return
            }
            stream.httpBody!.writeBytes(bytes)
        case .pending, .rejected:
            break
        }
    }

    func dataEndedStream(_ streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        remoteEnded(stream)
    }

    func streamClosed(_ streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        stream.deadlineTask?.cancel()
        if !stream.finished && !stream.cancelled {
            stream.cancelled = true
            if stream.observer != nil {
                pendingWork.append((streamID, .cancel))
                // Keep the observer reachable until the cancel runs.
                cancelledObservers[streamID] = stream.observer
            }
        }
        stream.observer = nil
        if !inReceive { runPendingWork() }
    }

    private var cancelledObservers: [Int32: any GRPCStreamObserver] = [:]

    func readOutbound(_ streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> NGHTTP2OutboundRead {
        guard let stream = streams[streamID] else {
            return .bytes(count: 0, endOfData: true, trailers: nil)
        }
        let count = min(buffer.count, stream.outbound.readableBytes)
        if count > 0 {
            stream.outbound.withUnsafeReadableBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<count]))
            }
            stream.outbound.moveReaderIndex(forwardBy: count)
            if stream.outbound.readableBytes == 0 { stream.outbound.clear() }
        }
        if stream.outbound.readableBytes == 0 {
            switch stream.outboundEnd {
            case .trailers(let trailers):
                return .bytes(count: count, endOfData: true, trailers: trailers)
            case .endOfBody:
                return .bytes(count: count, endOfData: true, trailers: nil)
            case .open:
                if count == 0 {
                    stream.dataDeferred = true
                    return .deferred
                }
            }
        }
        return .bytes(count: count, endOfData: false, trailers: nil)
    }

    // MARK: request handling

    private func classify(_ stream: HTTP2StreamState) {
        if stream.headerBytes > configuration.headerBytesMax {
            stream.role = .rejected
            pendingWork.append((stream.id, .fail(GRPCStatus(.resourceExhausted, "header list too large"))))
            return
        }
        guard stream.isGRPCContentType else {
            stream.role = .http
            stream.httpBody = context?.channel.allocator.buffer(capacity: 0)
            return
        }
        guard stream.method == "POST" else {
            stream.role = .rejected
            pendingWork.append((stream.id, .fail(GRPCStatus(.unimplemented, "grpc: unsupported method \(stream.method)"))))
            return
        }
        guard let handler = configuration.router.handler(for: stream.path) else {
            stream.role = .rejected
            pendingWork.append((stream.id, .fail(configuration.router.unimplementedStatus(for: stream.path))))
            return
        }
        stream.role = .grpc(handler)
        stream.deframer = GRPCMessageDeframer(messageBytesMax: configuration.receiveMessageBytesMax)
        if case .streaming = handler {
            stream.dispatched = true
            pendingWork.append((stream.id, .dispatch))
        }
    }

    private func drainMessages(_ stream: HTTP2StreamState, handler: GRPCMethodHandler) {
        while true {
            let message: [UInt8]?
            do {
                message = try stream.deframer!.next()
            } catch {
                stream.role = .rejected
                stream.deframer = nil
                let status: GRPCStatus
                switch error {
                case .messageTooLarge(let length, let limit):
                    status = GRPCStatus(.resourceExhausted, "grpc: received message larger than max (\(length) vs. \(limit))")
                case .compressedMessage:
                    status = GRPCStatus(.unimplemented, "grpc: Decompressor is not installed for grpc-encoding \"identity\"")
                }
                pendingWork.append((stream.id, .fail(status)))
                return
            }
            guard let message else { return }
            switch handler {
            case .unary:
                if stream.unaryRequest != nil {
                    stream.role = .rejected
                    pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "grpc: too many request messages for a unary call"))))
                    return
                }
                stream.unaryRequest = message
            case .streaming:
                pendingWork.append((stream.id, .message(message)))
            }
        }
    }

    private func remoteEnded(_ stream: HTTP2StreamState) {
        stream.remoteEnded = true
        switch stream.role {
        case .grpc(let handler):
            if stream.deframer?.hasPartialMessage == true {
                stream.role = .rejected
                pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "grpc: request ended inside a message"))))
                return
            }
            switch handler {
            case .unary:
                if stream.unaryRequest == nil {
                    stream.role = .rejected
                    pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "grpc: no request message for a unary call"))))
                } else if !stream.dispatched {
                    stream.dispatched = true
                    pendingWork.append((stream.id, .dispatch))
                }
            case .streaming:
                pendingWork.append((stream.id, .end))
            }
        case .http:
            stream.dispatched = true
            pendingWork.append((stream.id, .dispatch))
        case .pending, .rejected:
            break
        }
    }

    /// Runs the work queued during `mem_recv`: handler calls happen here, outside nghttp2.
    private func runPendingWork() {
        while !pendingWork.isEmpty {
            let work = pendingWork
            pendingWork.removeAll(keepingCapacity: true)
            for (id, item) in work {
                switch item {
                case .cancel:
                    if let observer = cancelledObservers.removeValue(forKey: id) { observer.cancelled() }
                case .fail(let status):
                    if let stream = streams[id] { finishStream(stream, status: status) }
                case .dispatch:
                    if let stream = streams[id] { dispatch(stream) }
                case .message(let message):
                    if let stream = streams[id], !stream.cancelled { stream.observer?.received(message) }
                case .end:
                    if let stream = streams[id], !stream.cancelled { stream.observer?.receivedEnd() }
                }
            }
        }
    }

    private func dispatch(_ stream: HTTP2StreamState) {
        guard let context, let sink else { return }
        switch stream.role {
        case .grpc(let handler):
            let deadline = GRPCTimeout.parse(stream.timeout).map { NIODeadline.now() + $0 }
            let callContext = GRPCCallContext(
                path: stream.path, metadata: GRPCMetadata(stream.metadata), deadline: deadline,
                peer: configuration.peer, eventLoop: context.eventLoop)
            let handle = HTTP2CallHandle(sink: sink, streamID: stream.id)
            if let deadline {
                stream.deadlineTask = context.eventLoop.scheduleTask(deadline: deadline) { [weak self] in
                    self?.deadlinePassed(stream.id)
                }
            }
            switch handler {
            case .unary(let body):
                let request = stream.unaryRequest ?? []
                stream.unaryRequest = nil
                body(callContext, request, handle)
            case .streaming(_, let body):
                stream.observer = body(callContext, handle)
            }
        case .http:
            var body = stream.httpBody ?? ByteBuffer()
            stream.httpBody = nil
            let (path, query) = HTTPRequest.splitTarget(stream.path)
            var headers = stream.metadata
            if !stream.contentType.isEmpty { headers.append(("content-type", stream.contentType)) }
            let request = HTTPRequest(
                method: stream.method, path: path, query: query, headers: headers,
                body: body.readBytes(length: body.readableBytes) ?? [], peer: configuration.peer)
            let handle = HTTP2CallHandle(sink: sink, streamID: stream.id)
            configuration.http.handle(request) { response in handle.respondHTTP(response) }
        case .pending, .rejected:
            break
        }
    }

    private func deadlinePassed(_ streamID: Int32) {
        guard let stream = streams[streamID], !stream.finished, !stream.cancelled else { return }
        let observer = stream.observer
        finishStream(stream, status: GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
        stream.cancelled = true
        observer?.cancelled()
        stream.observer = nil
    }

    // MARK: responses (event loop; called through the sink)

    func apply(_ op: HTTP2ConnectionSink.Operation) {
        switch op {
        case .message(let id, let message):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            GRPCMessageFramer.frame(message, into: &stream.outbound)
            startResponseIfNeeded(stream)
            resume(stream)
        case .finish(let id, let status):
            guard let stream = streams[id], !stream.finished else { return }
            finishStream(stream, status: status)
        case .http(let id, let response):
            guard let stream = streams[id], !stream.finished else { return }
            stream.finished = true
            var headers: [(String, String)] = [(":status", String(response.status))]
            for (n, v) in response.headers { headers.append((n.lowercased(), v)) }
            headers.append(("content-length", String(response.body.count)))
            stream.outbound.writeBytes(response.body)
            stream.outboundEnd = .endOfBody
            do {
                try session?.submitResponse(stream.id, headers: headers, hasBody: !response.body.isEmpty)
            } catch {
                session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeInternal)
            }
        }
    }

    func outboundBytes(_ id: Int32) -> Int {
        streams[id]?.outbound.readableBytes ?? 0
    }

    func isCancelled(_ id: Int32) -> Bool {
        guard let stream = streams[id] else { return true }
        return stream.cancelled
    }

    private static let grpcResponseHeaders: [(String, String)] = [(":status", "200"), ("content-type", "application/grpc")]

    private func startResponseIfNeeded(_ stream: HTTP2StreamState) {
        guard !stream.responseStarted else { return }
        stream.responseStarted = true
        do {
            try session?.submitResponse(stream.id, headers: Self.grpcResponseHeaders, hasBody: true)
        } catch {
            session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeInternal)
        }
    }

    private func resume(_ stream: HTTP2StreamState) {
        if stream.dataDeferred {
            stream.dataDeferred = false
            session?.resumeData(stream.id)
        }
        requestFlush()
    }

    private func finishStream(_ stream: HTTP2StreamState, status: GRPCStatus) {
        guard !stream.finished else { return }
        stream.finished = true
        stream.deadlineTask?.cancel()
        var trailers: [(String, String)] = [("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            trailers.append(("grpc-message", GRPCStatus.percentEncode(status.message)))
        }
        if stream.responseStarted {
            stream.outboundEnd = .trailers(trailers)
            resume(stream)
        } else {
            stream.responseStarted = true
            do {
                try session?.submitResponse(stream.id, headers: Self.grpcResponseHeaders + trailers, hasBody: false)
            } catch {
                session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeInternal)
            }
            requestFlush()
        }
        // The client may still be sending (e.g. a rejected upload); we will not read it.
        if !stream.remoteEnded {
            stream.role = .rejected
        }
    }
}
