import Logging
import NIOCore

/// The life of a stream from the handler's side: opened and closed by nghttp2, calls handed to the
/// router's methods outside nghttp2 (`runPendingWork`), deadlines, and cancellation of observers
/// whose stream went away.
extension HTTP2ServerHandler {
    func streamBegan(_ streamID: Int32) {
        guard let context else { return }
        streams[streamID] = HTTP2StreamState(id: streamID, allocator: context.channel.allocator)
    }

    func streamClosed(_ streamID: Int32, errorCode: UInt32) {
        guard let stream = streams[streamID] else { return }
        releaseAll(stream)
        endAdmission(stream)
        backlog.left(stream.outbound.readableBytes)
        streams[streamID] = nil
        for id in backlog.callsToDispatch() { pendingWork.append((id, .dispatch)) }
        stream.handleState?.markCancelled()
        stream.deadlineTask?.cancel()
        countHandled(stream, .cancelled)
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

    /// Runs the work queued during `mem_recv`: handler calls happen here, outside nghttp2.
    func runPendingWork() {
        guard !inReceive, !inSend, !inPendingWork else { return }
        inPendingWork = true
        defer { inPendingWork = false }
        repeat {
            runPendingWorkOnce()
            relieveBufferPressure()
        } while !pendingWork.isEmpty
    }

    func runPendingWorkOnce() {
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
                    guard let stream = streams[id] else { break }
                    // Streaming calls go at once; the others wait while too much is queued.
                    switch stream.role {
                    case .grpc(.streaming):
                        dispatch(stream)
                    case .grpc(let handler):
                        if backlog.mayDispatch(id, answer: handler.answer) { dispatch(stream) }
                    default:
                        if backlog.mayDispatch(id) { dispatch(stream) }
                    }
                case .message(let message):
                    if let stream = streams[id], !stream.cancelled, !stream.finished {
                        countReceived(stream)
                        stream.observer?.received(message)
                    }
                case .end:
                    if let stream = streams[id], !stream.cancelled, !stream.finished { stream.observer?.receivedEnd() }
                }
            }
        }
    }

    func dispatch(_ stream: HTTP2StreamState) {
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
            if let metrics = configuration.router.metrics {
                metrics.started(path: stream.path, kind: handler.kind)
                stream.metricsKind = handler.kind
                stream.metricsStarted = .now()
            }
            if let deadline {
                let id = stream.id
                stream.deadlineTask = context.eventLoop.scheduleTask(deadline: deadline) { [weak self] in
                    self?.deadlinePassed(id)
                }
            }
            switch handler {
            case .unary(_, let body):
                countReceived(stream)
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

    /// Counts the end of a dispatched gRPC call once (the first end wins: a finished call whose
    /// stream then closes was counted with its status).
    func countHandled(_ stream: HTTP2StreamState, _ code: GRPCStatusCode) {
        guard let kind = stream.metricsKind else { return }
        stream.metricsKind = nil
        let seconds = Double((NIODeadline.now() - stream.metricsStarted).nanoseconds) / 1e9
        configuration.router.metrics?.handled(path: stream.path, kind: kind, code: code, seconds: seconds)
    }

    func countReceived(_ stream: HTTP2StreamState) {
        guard let kind = stream.metricsKind else { return }
        configuration.router.metrics?.received(path: stream.path, kind: kind, messages: 1)
    }

    func countSent(_ stream: HTTP2StreamState, _ messages: Int) {
        guard let kind = stream.metricsKind else { return }
        configuration.router.metrics?.sent(path: stream.path, kind: kind, messages: messages)
    }

    func deadlinePassed(_ streamID: Int32) {
        guard let stream = streams[streamID], !stream.finished, !stream.cancelled else { return }
        let observer = stream.observer
        finishStream(stream, status: GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
        stream.cancelled = true
        stream.handleState?.markCancelled()
        observer?.cancelled()
        stream.observer = nil
    }
}
