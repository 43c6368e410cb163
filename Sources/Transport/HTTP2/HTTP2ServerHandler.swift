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
/// producers queued on its streams (`pendingOutboundBytes`, which they must watch). While the
/// channel is not writable it also holds back `read` requests, so such a client cannot keep
/// feeding requests whose answers would pile up.
///
/// Input is bounded per connection: request bytes received and not yet handed to a method
/// (partial messages, a unary request waiting for END_STREAM, a plain HTTP body) count against
/// `requestBytesBufferedMax`, which is the connection-level HTTP/2 receive window. nghttp2's
/// automatic WINDOW_UPDATE is off: windows reopen only as bytes leave our buffers (`release`).
/// Stream windows start at `streamWindowBytes`; a message larger than that must be *admitted*
/// first: its stream's window is widened to the whole message while the messages admitted at
/// once stay within `admissionBytesMax` (half the budget; one at a time at least). Streams
/// waiting for admission are served in order and can each hold only one stream window, so many
/// concurrent large requests are taken a few at a time instead of all stalling halfway with the
/// budget full. Should the peer still fill the whole connection window with nothing able to
/// complete, the newest call that is not admitted is failed with RESOURCE_EXHAUSTED.
///
/// A call the server finishes before the client half-closed is reset with RST_STREAM(NO_ERROR)
/// once its END_STREAM frame has gone out (as grpc-go does), so it is freed at once and never
/// counts against SETTINGS_MAX_CONCURRENT_STREAMS again.
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
        /// Request bytes buffered per connection at most (the connection receive window); nil
        /// derives it from `receiveMessageBytesMax` (`defaultRequestBytesBufferedMax`).
        var requestBytesBufferedMax: Int? = nil
        var peer: PeerInfo = PeerInfo()
        var logger: Logger
    }

    /// Bytes of frames taken from nghttp2 per socket write.
    static let writeChunkBytes = 256 * 1024
    /// The smallest per-connection request buffer: room for several etcd-sized requests at once.
    static let requestBytesBufferedMin = 16 << 20

    /// Four of the largest messages, at least `requestBytesBufferedMin`, at most what an HTTP/2
    /// window can be (2^31 - 1).
    static func defaultRequestBytesBufferedMax(receiveMessageBytesMax: Int) -> Int {
        let four = (receiveMessageBytesMax + GRPCMessageDeframer.prefixBytes).multipliedReportingOverflow(by: 4)
        let wanted = four.overflow ? Int(Int32.max) : max(requestBytesBufferedMin, four.partialValue)
        return min(wanted, Int(Int32.max))
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE: what a stream may send before its bytes are released.
    static let streamWindowBytes = 64 * 1024

    /// The per-connection bound on buffered request bytes (see the type's doc).
    let requestBytesBufferedMax: Int
    /// Who holds how much of `requestBytesBufferedMax`, and which large messages may arrive.
    private(set) var budget: ReceiveBudget
    /// Most bytes of large messages admitted at once (see the type's doc).
    var admissionBytesMax: Int { budget.admissionBytesMax }
    /// Bytes held by admitted large messages now.
    var admittedBytes: Int { budget.admittedBytes }
    /// Request bytes received on all streams and not yet released (always ≤ the maximum).
    var bufferedRequestBytes: Int { budget.bufferedBytes }

    private var configuration: Configuration
    private var session: NGHTTP2Session?
    private var streams: [Int32: HTTP2StreamState] = [:]
    private var context: ChannelHandlerContext?
    private var sink: HTTP2ConnectionSink?
    /// Work found while nghttp2 was inside `mem_recv`, run after it returns.
    private var pendingWork: [(Int32, PendingWork)] = []
    private var inReceive = false
    /// Inside `session.send` (nghttp2's `mem_send`): nghttp2 must not be re-entered.
    private var inSend = false
    /// Inside `runPendingWork`: handler calls may ask for output, which is written after it.
    private var inPendingWork = false
    private var flushNeeded = false
    private var closed = false
    /// A `read` held back while the channel was not writable.
    private var readPending = false
    /// Observers of streams nghttp2 closed, waiting for their `cancelled()` call (which runs
    /// outside nghttp2). Every entry has a `.cancel` item in `pendingWork`.
    private var cancelledObservers: [Int32: any GRPCStreamObserver] = [:]

    private enum PendingWork {
        case dispatch
        case message([UInt8])
        case end
        case cancel
        case fail(GRPCStatus)
        /// A plain HTTP request refused before it reached the HTTP handler.
        case httpError(HTTPResponse)
    }

    init(configuration: Configuration) {
        self.configuration = configuration
        let budget = configuration.requestBytesBufferedMax
            ?? Self.defaultRequestBytesBufferedMax(receiveMessageBytesMax: configuration.receiveMessageBytesMax)
        // One whole message must fit, or a call could never complete.
        self.requestBytesBufferedMax = min(Int(Int32.max), max(budget, configuration.receiveMessageBytesMax + GRPCMessageDeframer.prefixBytes))
        self.budget = ReceiveBudget(bytesMax: requestBytesBufferedMax, streamWindowBytes: Self.streamWindowBytes)
    }

    /// Streams nghttp2 has not closed yet (tests check that finished calls are freed).
    var openStreamCount: Int { streams.count }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let sink = HTTP2ConnectionSink(eventLoop: context.eventLoop)
        sink.handler = self
        self.sink = sink
        do {
            session = try NGHTTP2Session(
                delegate: self,
                settings: .init(
                    maxConcurrentStreams: configuration.maxConcurrentStreams,
                    initialWindowSize: UInt32(Self.streamWindowBytes),
                    connectionWindowBytes: Int32(requestBytesBufferedMax)))
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
        closed = true
        cancelAllStreams()
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
        if context.channel.isWritable {
            flushOutput()
            if readPending {
                readPending = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Response bytes queued on streams and not yet taken by nghttp2, over the connection.
    private var outboundBytesTotal = 0
    /// While the channel is not writable, reads go on until this much is queued for the peer.
    /// Reading on is what lets WINDOW_UPDATE and PING frames through — stopping at once would
    /// stall a large download on a client that is merely slow (its window updates would wait
    /// behind our own full socket) — but a peer that never reads must not make answers pile up
    /// without bound.
    static let outboundBytesMaxWhileUnwritable = 32 << 20

    /// Holds reads while the channel is not writable and too much is queued for the peer: a
    /// peer that does not read our answers must not be able to keep sending requests (or PINGs)
    /// whose answers pile up here.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable || closed || outboundBytesTotal < Self.outboundBytesMaxWhileUnwritable {
            context.read()
        } else {
            readPending = true
        }
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

    /// The connection is gone: every call not finished yet is cancelled, each observer told once
    /// (including those whose stream nghttp2 closed but whose `cancelled()` had not run yet).
    private func cancelAllStreams() {
        let open = streams.values.sorted { $0.id < $1.id }
        streams.removeAll()
        outboundBytesTotal = 0
        let waiting = cancelledObservers.sorted { $0.key < $1.key }.map(\.value)
        cancelledObservers.removeAll()
        pendingWork.removeAll()
        // The session goes with the connection: nothing to announce, only the count to reset.
        budget.removeAll()
        var observers: [any GRPCStreamObserver] = waiting
        for stream in open {
            stream.handleState?.markCancelled()
            stream.deadlineTask?.cancel()
            if !stream.finished && !stream.cancelled {
                stream.cancelled = true
                if let o = stream.observer { observers.append(o) }
            }
            stream.observer = nil
        }
        for o in observers { o.cancelled() }
    }

    // MARK: output

    /// Moves every frame nghttp2 has ready onto the socket, in chunks, while the channel is
    /// writable. Called after input, after responses, and when the channel becomes writable.
    ///
    /// Never re-enters nghttp2: callbacks during `send` only queue work, which runs after `send`
    /// returns (and may produce more frames, hence the outer loop).
    func flushOutput() {
        guard !inSend, !inReceive, !inPendingWork else {
            flushNeeded = true
            return
        }
        flushNeeded = false
        guard let context, let session, !closed else { return }
        var wrote = false
        outer: while true {
            while context.channel.isWritable {
                var buffer = context.channel.allocator.buffer(capacity: 16 * 1024)
                let more: Bool
                inSend = true
                do {
                    more = try session.send(into: &buffer, limitBytes: Self.writeChunkBytes)
                } catch {
                    inSend = false
                    configuration.logger.debug("http2 send failed", metadata: ["error": "\(error)"])
                    if wrote { context.flush() }
                    close()
                    return
                }
                inSend = false
                if buffer.readableBytes > 0 {
                    context.write(wrapOutboundOut(buffer), promise: nil)
                    wrote = true
                }
                if !more { break }
            }
            runPendingWork()
            if closed || self.context == nil { break }
            if flushNeeded && context.channel.isWritable {
                flushNeeded = false
                continue outer
            }
            break
        }
        if wrote { context.flush() }
        if !closed && !session.wantsRead && !session.wantsWrite {
            close()
        }
    }

    private func requestFlush() {
        if inReceive || inSend || inPendingWork || inBatch { flushNeeded = true } else { flushOutput() }
    }

    /// True while `applyBatch` runs: frames are written once, after the whole batch.
    private var inBatch = false

    /// Applies operations from the sink, then writes everything they produced with one flush.
    func applyBatch(_ operations: some Sequence<HTTP2ConnectionSink.Operation>) {
        inBatch = true
        for op in operations { apply(op) }
        inBatch = false
        if flushNeeded { flushOutput() }
    }

    /// A deferred flush is scheduled on the loop (at most one at a time).
    private var deferredFlushScheduled = false

    /// Applies one operation made on the event loop; the frames it produces are written by one
    /// flush scheduled behind the current task, shared by every operation until then.
    func applyDeferringFlush(_ operation: HTTP2ConnectionSink.Operation) {
        inBatch = true
        apply(operation)
        inBatch = false
        guard flushNeeded, !deferredFlushScheduled, let context else { return }
        deferredFlushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.deferredFlushScheduled = false
            if handler.flushNeeded { handler.flushOutput() }
        }
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
        guard let stream = streams[streamID], !stream.malformed else { return }
        guard stream.headerRules.accept(name: name, value: value) else {
            malformedRequest(stream)
            return
        }
        // Trailers of a request carry nothing etcd reads.
        if stream.headerRules.inTrailers { return }
        stream.headerBytes += name.count + value.count
        if stream.headerBytes > configuration.headerBytesMax { return }
        let n = String(decoding: name, as: UTF8.self)
        let v = String(decoding: value, as: UTF8.self)
        switch n {
        case ":method": stream.method = v
        case ":path": stream.path = v
        case "content-type": stream.contentType = v
        case "grpc-timeout": stream.timeout = v
        case "grpc-encoding": stream.grpcEncoding = v
        case ":scheme", ":authority", "te", "user-agent", "grpc-accept-encoding", "accept-encoding", "content-length":
            // The :authority and user-agent are not metadata etcd looks at.
            break
        default:
            if n.hasPrefix(":") { break }
            stream.metadata.append((n, v))
        }
    }

    func headersEnded(_ streamID: Int32, endStream: Bool) {
        guard let stream = streams[streamID], !stream.malformed else { return }
        if !stream.headerRules.inTrailers {
            stream.headerRules.inTrailers = true
            guard stream.headerRules.isCompleteRequest else {
                malformedRequest(stream)
                return
            }
        }
        if case .pending = stream.role {
            classify(stream)
        }
        if endStream { remoteEnded(stream) }
    }

    func data(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer) {
        // Bytes we do not keep are released at once; kept bytes when they leave our buffers.
        guard let stream = streams[streamID] else {
            session?.consume(streamID, bytes.count)
            return
        }
        switch stream.role {
        case .grpc(let handler):
            guard stream.deframer != nil else {
                session?.consume(streamID, bytes.count)
                return
            }
            hold(stream, bytes.count)
            stream.deframer!.append(bytes)
            drainMessages(stream, handler: handler)
            if case .grpc = stream.role { ensureProgress(stream) }
        case .http:
            // The body's size is bounded by httpBodyBytesMax, not by messages: its stream window
            // reopens at once, and the connection window bounds it with everything else.
            stream.streamWindowReleasedOnArrival = true
            session?.consumeStream(streamID, bytes.count)
            if stream.httpBody!.readableBytes + bytes.count > configuration.httpBodyBytesMax {
                session?.consumeConnection(bytes.count)
                reject(stream)
                pendingWork.append((streamID, .httpError(.text(413, "request body too large\n"))))
                return
            }
            hold(stream, bytes.count)
            stream.httpBody!.writeBytes(bytes)
        case .pending, .rejected:
            session?.consume(streamID, bytes.count)
        }
    }

    // MARK: admission of large messages

    /// Makes sure the rest of `stream`'s current message can arrive: a large message is admitted
    /// (or queued); for a small one, bytes released but not yet announced are announced when the
    /// stream window would otherwise stop the message halfway (nghttp2 waits for half a window).
    private func ensureProgress(_ stream: HTTP2StreamState) {
        guard let session, let deframer = stream.deframer, deframer.hasPartialMessage else { return }
        let messageBytes = (deframer.nextMessageBytes ?? 0) + GRPCMessageDeframer.prefixBytes
        switch budget.requestAdmission(stream.id, messageBytes: messageBytes) {
        case .admitted(let admitted):
            widen(admitted)
        case .waiting:
            break
        case .notNeeded:
            let remaining = messageBytes - deframer.bufferedBytes
            if session.streamReceiveWindowLeft(stream.id) < remaining {
                session.announceConsumedStreamBytes(stream.id, unconsumedBytes: budget.heldBytes(stream.id))
            }
        }
    }

    /// An admitted message's stream window is widened so the whole message fits.
    private func widen(_ admitted: ReceiveBudget.Admitted) {
        session?.widenStreamWindow(admitted.streamID, to: admitted.windowBytes)
        session?.announceConsumedStreamBytes(admitted.streamID, unconsumedBytes: budget.heldBytes(admitted.streamID))
        requestFlush()
    }

    /// The admitted message arrived (or its stream stopped waiting): admit the next ones in order.
    private func endAdmission(_ stream: HTTP2StreamState) {
        for admitted in budget.endAdmission(stream.id) { widen(admitted) }
    }

    // MARK: buffered request bytes

    /// `count` bytes of `stream` now sit in our buffers.
    private func hold(_ stream: HTTP2StreamState, _ count: Int) {
        budget.hold(stream.id, count)
    }

    /// `count` of `stream`'s bytes (exactly that many are held) left our buffers: the peer may
    /// send that much more.
    private func release(_ stream: HTTP2StreamState, _ count: Int) {
        guard count > 0 else { return }
        budget.release(stream.id, count)
        announceReleased(stream, count)
    }

    /// Releases everything `stream` holds.
    private func releaseAll(_ stream: HTTP2StreamState) {
        announceReleased(stream, budget.releaseAll(stream.id))
    }

    private func announceReleased(_ stream: HTTP2StreamState, _ count: Int) {
        guard count > 0 else { return }
        if stream.streamWindowReleasedOnArrival {
            session?.consumeConnection(count)
        } else {
            session?.consume(stream.id, count)
        }
        requestFlush()
    }

    /// A request that breaks HTTP/2's header rules: its stream is reset with PROTOCOL_ERROR (as
    /// grpc-go and nghttp2 do) and whatever else arrives on it is dropped.
    private func malformedRequest(_ stream: HTTP2StreamState) {
        stream.malformed = true
        reject(stream)
        session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeProtocol)
    }

    /// Stops reading a stream's request: buffers dropped, bytes released, later DATA ignored.
    private func reject(_ stream: HTTP2StreamState) {
        stream.role = .rejected
        stream.deframer = nil
        stream.unaryRequest = nil
        stream.httpBody = nil
        releaseAll(stream)
        endAdmission(stream)
    }

    /// When the peer has filled the connection window and no buffered request can complete
    /// without more bytes, nothing would ever move again: fail the calls buffering the most
    /// until the window reopens.
    private func relieveBufferPressure() {
        guard let session, !closed else { return }
        while session.connectionReceiveWindowLeft <= 0 {
            // Released bytes nghttp2 has not announced yet (it waits for half a window): say so now.
            session.announceConsumedConnectionBytes(unconsumedBytes: budget.bufferedBytes)
            if session.connectionReceiveWindowLeft > 0 { break }
            // A complete unary request waits only for END_STREAM, which needs no window.
            if streams.values.contains(where: { $0.unaryRequest != nil && !$0.remoteEnded }) { return }
            // The newest call not admitted goes first (admitted ones are what can still finish),
            // then the newest at all.
            let candidates = streams.values.filter { budget.heldBytes($0.id) > 0 && !$0.remoteEnded }.map(\.id)
            guard let victimID = budget.victim(among: candidates), let victim = streams[victimID] else { return }
            configuration.logger.debug(
                "request buffer full; failing a partial request",
                metadata: ["stream": "\(victim.id)", "buffered-bytes": "\(budget.heldBytes(victim.id))"])
            let isHTTP: Bool
            if case .http = victim.role { isHTTP = true } else { isHTTP = false }
            reject(victim)
            if isHTTP {
                respondHTTPError(victim, .text(503, "too many request bytes buffered on this connection\n"))
            } else {
                finishStream(victim, status: GRPCStatus(.resourceExhausted, "grpc: too many request bytes buffered on this connection"))
            }
        }
    }

    func dataEndedStream(_ streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        remoteEnded(stream)
    }

    func streamClosed(_ streamID: Int32, errorCode: UInt32) {
        guard let stream = streams[streamID] else { return }
        releaseAll(stream)
        endAdmission(stream)
        outboundBytesTotal -= stream.outbound.readableBytes
        streams[streamID] = nil
        stream.handleState?.markCancelled()
        stream.deadlineTask?.cancel()
        if !stream.finished && !stream.cancelled {
            stream.cancelled = true
            if let observer = stream.observer {
                // Keep the observer reachable until the cancel runs, outside nghttp2.
                precondition(cancelledObservers[streamID] == nil)
                cancelledObservers[streamID] = observer
                pendingWork.append((streamID, .cancel))
            }
        }
        stream.observer = nil
        stream.deframer = nil
        stream.unaryRequest = nil
        stream.httpBody = nil
        if !inReceive && !inSend {
            runPendingWork()
            if flushNeeded { flushOutput() }
        }
    }

    func sentEndStream(_ streamID: Int32) {
        // Our half is done. A client that has not half-closed would keep the stream (and a
        // MAX_CONCURRENT_STREAMS slot) open forever: reset it, as grpc-go does, with NO_ERROR.
        // Submitted from nghttp2's frame-sent callback, so it goes out after the END_STREAM frame.
        guard let stream = streams[streamID], !stream.remoteEnded else { return }
        session?.resetStream(streamID, errorCode: NGHTTP2Session.errorCodeNoError)
    }

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
            outboundBytesTotal -= count
            if stream.outbound.readableBytes == 0 { stream.outbound.clear() }
            stream.handleState?.drained(count)
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
            if stream.isGRPCContentType {
                pendingWork.append((stream.id, .fail(GRPCStatus(.resourceExhausted, "header list too large"))))
            } else {
                pendingWork.append((stream.id, .httpError(.text(431, "request header fields too large\n"))))
            }
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
        if let timeout = stream.timeout, GRPCTimeout.parse(timeout) == nil {
            // grpc-go: codes.Internal, "malformed grpc-timeout: <decode error>".
            stream.role = .rejected
            pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "malformed grpc-timeout: transport: invalid timeout \"\(timeout)\""))))
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
                reject(stream)
                let status: GRPCStatus
                switch error {
                case .messageTooLarge(let length, let limit):
                    status = GRPCStatus(.resourceExhausted, "grpc: received message larger than max (\(length) vs. \(limit))")
                case .compressedMessage:
                    // grpc-go's checkRecvPayload: no encoding (or identity) vs. one we lack.
                    if stream.grpcEncoding.isEmpty || stream.grpcEncoding == "identity" {
                        status = GRPCStatus(.internal, "grpc: compressed flag set with identity or empty encoding")
                    } else {
                        status = GRPCStatus(.unimplemented, "grpc: Decompressor is not installed for grpc-encoding \"\(stream.grpcEncoding)\"")
                    }
                }
                pendingWork.append((stream.id, .fail(status)))
                return
            }
            guard let message else { return }
            if budget.reservedBytes(stream.id) > 0 { endAdmission(stream) }
            switch handler {
            case .unary:
                if stream.unaryRequest != nil {
                    reject(stream)
                    pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "grpc: too many request messages for a unary call"))))
                    return
                }
                // Held (and counted) until END_STREAM dispatches the call.
                stream.unaryRequest = message
            case .streaming:
                release(stream, GRPCMessageDeframer.prefixBytes + message.count)
                pendingWork.append((stream.id, .message(message)))
            }
        }
    }

    private func remoteEnded(_ stream: HTTP2StreamState) {
        stream.remoteEnded = true
        switch stream.role {
        case .grpc(let handler):
            if stream.deframer?.hasPartialMessage == true {
                reject(stream)
                pendingWork.append((stream.id, .fail(GRPCStatus(.internal, "grpc: request ended inside a message"))))
                return
            }
            switch handler {
            case .unary:
                if stream.unaryRequest == nil {
                    reject(stream)
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
        guard !inReceive, !inSend, !inPendingWork else { return }
        inPendingWork = true
        defer { inPendingWork = false }
        repeat {
            runPendingWorkOnce()
            relieveBufferPressure()
        } while !pendingWork.isEmpty
    }

    private func runPendingWorkOnce() {
        while !pendingWork.isEmpty {
            let work = pendingWork
            pendingWork.removeAll(keepingCapacity: true)
            for (id, item) in work {
                switch item {
                case .cancel:
                    if let observer = cancelledObservers.removeValue(forKey: id) { observer.cancelled() }
                case .fail(let status):
                    if let stream = streams[id] { finishStream(stream, status: status) }
                case .httpError(let response):
                    if let stream = streams[id] { respondHTTPError(stream, response) }
                case .dispatch:
                    if let stream = streams[id] { dispatch(stream) }
                case .message(let message):
                    if let stream = streams[id], !stream.cancelled, !stream.finished { stream.observer?.received(message) }
                case .end:
                    if let stream = streams[id], !stream.cancelled, !stream.finished { stream.observer?.receivedEnd() }
                }
            }
        }
    }

    private func dispatch(_ stream: HTTP2StreamState) {
        guard let context, let sink else { return }
        switch stream.role {
        case .grpc(let handler):
            // The loop's clock (virtual on an EmbeddedEventLoop), so tests can advance it.
            let deadline = stream.timeout.flatMap(GRPCTimeout.parse).map { context.eventLoop.now + $0 }
            let callContext = GRPCCallContext(
                path: stream.path, metadata: GRPCMetadata(stream.metadata), deadline: deadline,
                peer: configuration.peer, eventLoop: context.eventLoop)
            let handle = HTTP2CallHandle(sink: sink, streamID: stream.id)
            stream.handleState = handle.state
            if let deadline {
                let id = stream.id
                stream.deadlineTask = context.eventLoop.scheduleTask(deadline: deadline) { [weak self] in
                    self?.deadlinePassed(id)
                }
            }
            switch handler {
            case .unary(let body):
                let request = stream.unaryRequest ?? []
                stream.unaryRequest = nil
                releaseAll(stream)
                body(callContext, request, handle)
            case .streaming(_, let body):
                stream.observer = body(callContext, handle)
            }
        case .http:
            var body = stream.httpBody ?? ByteBuffer()
            stream.httpBody = nil
            releaseAll(stream)
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
        stream.handleState?.markCancelled()
        observer?.cancelled()
        stream.observer = nil
    }

    // MARK: responses (event loop; called through the sink)

    func apply(_ op: HTTP2ConnectionSink.Operation) {
        switch op {
        case .message(let id, let message):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            GRPCMessageFramer.frame(message, into: &stream.outbound)
            outboundBytesTotal += message.count + GRPCMessageDeframer.prefixBytes
            startResponseIfNeeded(stream)
            resume(stream)
        case .messages(let id, let messages):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            var total = 0
            for m in messages { total += m.count + GRPCMessageDeframer.prefixBytes }
            stream.outbound.reserveCapacity(minimumWritableBytes: total)
            for m in messages { GRPCMessageFramer.frame(m, into: &stream.outbound) }
            outboundBytesTotal += total
            startResponseIfNeeded(stream)
            resume(stream)
        case .finish(let id, let status):
            guard let stream = streams[id], !stream.finished else { return }
            finishStream(stream, status: status)
        case .reply(let id, let message):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            GRPCMessageFramer.frame(message, into: &stream.outbound)
            outboundBytesTotal += message.count + GRPCMessageDeframer.prefixBytes
            startResponseIfNeeded(stream)
            finishStream(stream, status: .ok)
        case .http(let id, let response):
            guard let stream = streams[id], !stream.finished else { return }
            respondHTTP(stream, response)
        }
    }

    private func respondHTTP(_ stream: HTTP2StreamState, _ response: HTTPResponse) {
        guard !stream.finished else { return }
        stream.finished = true
        stream.deadlineTask?.cancel()
        var headers: [(String, String)] = [(":status", String(response.status))]
        for (n, v) in response.headers where n.lowercased() != "content-length" { headers.append((n.lowercased(), v)) }
        headers.append(("content-length", String(response.body.count)))
        stream.outbound.writeBytes(response.body)
        outboundBytesTotal += response.body.count
        stream.outboundEnd = .endOfBody
        stream.responseStarted = true
        do {
            try session?.submitResponse(stream.id, headers: headers, hasBody: !response.body.isEmpty)
        } catch {
            session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeInternal)
        }
        if !stream.remoteEnded { reject(stream) }
        requestFlush()
    }

    private func respondHTTPError(_ stream: HTTP2StreamState, _ response: HTTPResponse) {
        reject(stream)
        respondHTTP(stream, response)
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
            reject(stream)
        }
    }
}
