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
///
/// One job per file: this one has the connection's lifecycle, the writing of frames and the
/// output back-pressure (its accounting is the `SendBacklog` state machine); `+Intake` the
/// request heads; `+Receive` the request bodies (their accounting and admission are the
/// `ReceiveBudget` state machine); `+Dispatch` the streams' lives and the calls into the router;
/// `+Output` the responses and nghttp2's data source.
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
    var budget: ReceiveBudget
    /// Most bytes of large messages admitted at once (see the type's doc).
    var admissionBytesMax: Int { budget.admissionBytesMax }
    /// Bytes held by admitted large messages now.
    var admittedBytes: Int { budget.admittedBytes }
    /// Request bytes received on all streams and not yet released (always ≤ the maximum).
    var bufferedRequestBytes: Int { budget.bufferedBytes }

    var configuration: Configuration
    var session: NGHTTP2Session?
    var streams: [Int32: HTTP2StreamState] = [:]
    var context: ChannelHandlerContext?
    var sink: HTTP2ConnectionSink?
    /// Work found while nghttp2 was inside `mem_recv`, run after it returns.
    var pendingWork: [(Int32, PendingWork)] = []
    var inReceive = false
    /// Inside `session.send` (nghttp2's `mem_send`): nghttp2 must not be re-entered.
    var inSend = false
    /// Inside `runPendingWork`: handler calls may ask for output, which is written after it.
    var inPendingWork = false
    var flushNeeded = false
    var closed = false
    /// Observers of streams nghttp2 closed, waiting for their `cancelled()` call (which runs
    /// outside nghttp2). Every entry has a `.cancel` item in `pendingWork`.
    var cancelledObservers: [Int32: any GRPCStreamObserver] = [:]

    enum PendingWork {
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
            if backlog.becameWritable() { context.read() }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Response bytes queued on streams and not yet taken by nghttp2, and the reads held
    /// back meanwhile.
    var backlog = SendBacklog(bytesMaxWhileUnwritable: HTTP2ServerHandler.outboundBytesMaxWhileUnwritable,
                              responseBytesMax: HTTP2ServerHandler.responseBytesQueuedMax,
                              boundedAnswerBytesMax: HTTP2ServerHandler.boundedAnswerBytesQueuedMax)
    /// Above this many queued response bytes, new unary calls wait (see `SendBacklog`).
    static let responseBytesQueuedMax = 4 << 20
    /// Above this many, calls with bounded answers (`GRPCAnswerSize.bounded`) wait too.
    static let boundedAnswerBytesQueuedMax = 16 << 20
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
        if closed || backlog.read(channelWritable: context.channel.isWritable) == .read { context.read() }
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

    func close() {
        guard !closed, let context else { return }
        closed = true
        cancelAllStreams()
        context.close(promise: nil)
    }

    /// The connection is gone: every call not finished yet is cancelled, each observer told once
    /// (including those whose stream nghttp2 closed but whose `cancelled()` had not run yet).
    func cancelAllStreams() {
        let open = streams.values.sorted { $0.id < $1.id }
        streams.removeAll()
        backlog.reset()
        let waiting = cancelledObservers.sorted { $0.key < $1.key }.map(\.value)
        cancelledObservers.removeAll()
        pendingWork.removeAll()
        // The session goes with the connection: nothing to announce, only the count to reset.
        budget.removeAll()
        var observers: [any GRPCStreamObserver] = waiting
        for stream in open {
            stream.handleState?.markCancelled()
            stream.deadlineTask?.cancel()
            countHandled(stream, .cancelled)
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

    func requestFlush() {
        if inReceive || inSend || inPendingWork || inBatch { flushNeeded = true } else { flushOutput() }
    }

    /// True while `applyBatch` runs: frames are written once, after the whole batch.
    var inBatch = false

    /// Applies operations from the sink, then writes everything they produced with one flush.
    func applyBatch(_ operations: some Sequence<HTTP2ConnectionSink.Operation>) {
        inBatch = true
        for op in operations { apply(op) }
        inBatch = false
        if flushNeeded { flushOutput() }
    }

    /// A deferred flush is scheduled on the loop (at most one at a time).
    var deferredFlushScheduled = false

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
}
