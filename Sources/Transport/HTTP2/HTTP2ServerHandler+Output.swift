import Logging
import NIOCore

/// Responses: gRPC messages framed onto streams, trailers, plain HTTP answers, and the data
/// source nghttp2 pulls them from under the peer's flow-control window (`readOutbound`).
extension HTTP2ServerHandler {
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
            backlog.left(count)
            // Inside nghttp2's send: calls that waited for the backlog run after it returns.
            for id in backlog.callsToDispatch() { pendingWork.append((id, .dispatch)) }
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

    func apply(_ op: HTTP2ConnectionSink.Operation) {
        switch op {
        case .message(let id, let message):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            Self.makeRoom(message.count + GRPCMessageDeframer.prefixBytes, in: &stream.outbound)
            GRPCMessageFramer.frame(message, into: &stream.outbound)
            backlog.queued(message.count + GRPCMessageDeframer.prefixBytes)
            countSent(stream, 1)
            startResponseIfNeeded(stream)
            resume(stream)
        case .messages(let id, let messages):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            var total = 0
            for m in messages { total += m.count + GRPCMessageDeframer.prefixBytes }
            Self.makeRoom(total, in: &stream.outbound)
            stream.outbound.reserveCapacity(minimumWritableBytes: total)
            for m in messages { GRPCMessageFramer.frame(m, into: &stream.outbound) }
            backlog.queued(total)
            countSent(stream, messages.count)
            startResponseIfNeeded(stream)
            resume(stream)
        case .finish(let id, let status):
            guard let stream = streams[id], !stream.finished else { return }
            finishStream(stream, status: status)
        case .reply(let id, let message):
            guard let stream = streams[id], !stream.finished, !stream.cancelled else { return }
            GRPCMessageFramer.frame(message, into: &stream.outbound)
            backlog.queued(message.count + GRPCMessageDeframer.prefixBytes)
            countSent(stream, 1)
            startResponseIfNeeded(stream)
            finishStream(stream, status: .ok)
        case .http(let id, let response):
            guard let stream = streams[id], !stream.finished else { return }
            respondHTTP(stream, response)
        }
    }

    func respondHTTP(_ stream: HTTP2StreamState, _ response: HTTPResponse) {
        guard !stream.finished else { return }
        stream.finished = true
        stream.deadlineTask?.cancel()
        var headers: [(String, String)] = [(":status", String(response.status))]
        for (n, v) in response.headers where n.lowercased() != "content-length" { headers.append((n.lowercased(), v)) }
        headers.append(("content-length", String(response.body.count)))
        stream.outbound.writeBytes(response.body)
        backlog.queued(response.body.count)
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

    func respondHTTPError(_ stream: HTTP2StreamState, _ response: HTTPResponse) {
        reject(stream)
        respondHTTP(stream, response)
    }

    /// Before `bytes` more are queued on a stream: if they do not fit behind what is queued and
    /// at least as much was already sent as is still queued, the unsent rest moves to the front
    /// instead of the buffer growing. A stream its producer keeps fed never drains to empty (a
    /// snapshot, a busy watch): without this its buffer grows by everything ever sent. Only done
    /// when the buffer is full, so a large answer queued at once is never copied.
    static func makeRoom(_ bytes: Int, in buffer: inout ByteBuffer) {
        if buffer.writableBytes < bytes && buffer.readerIndex > 0 && buffer.readerIndex >= buffer.readableBytes {
            buffer.discardReadBytes()
        }
    }

    func outboundBytes(_ id: Int32) -> Int {
        streams[id]?.outbound.readableBytes ?? 0
    }

    func isCancelled(_ id: Int32) -> Bool {
        guard let stream = streams[id] else { return true }
        return stream.cancelled
    }

    static let grpcResponseHeaders: [(String, String)] = [(":status", "200"), ("content-type", "application/grpc")]

    func startResponseIfNeeded(_ stream: HTTP2StreamState) {
        guard !stream.responseStarted else { return }
        stream.responseStarted = true
        do {
            try session?.submitResponse(stream.id, headers: Self.grpcResponseHeaders, hasBody: true)
        } catch {
            session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeInternal)
        }
    }

    func resume(_ stream: HTTP2StreamState) {
        if stream.dataDeferred {
            stream.dataDeferred = false
            session?.resumeData(stream.id)
        }
        requestFlush()
    }

    func finishStream(_ stream: HTTP2StreamState, status: GRPCStatus) {
        guard !stream.finished else { return }
        stream.finished = true
        stream.deadlineTask?.cancel()
        countHandled(stream, status.code)
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
