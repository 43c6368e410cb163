import Logging
import NIOCore

/// Request bodies: DATA into gRPC messages (or a plain HTTP body), the bytes each stream holds
/// and the admission of large messages (`ReceiveBudget`), what ends a request, and relief when
/// the connection window is full with nothing able to complete. Inside nghttp2's callbacks.
extension HTTP2ServerHandler {
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

    /// Makes sure the rest of `stream`'s current message can arrive: a large message is admitted
    /// (or queued); for a small one, bytes released but not yet announced are announced when the
    /// stream window would otherwise stop the message halfway (nghttp2 waits for half a window).
    func ensureProgress(_ stream: HTTP2StreamState) {
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
    func widen(_ admitted: ReceiveBudget.Admitted) {
        session?.widenStreamWindow(admitted.streamID, to: admitted.windowBytes)
        session?.announceConsumedStreamBytes(admitted.streamID, unconsumedBytes: budget.heldBytes(admitted.streamID))
        requestFlush()
    }

    /// The admitted message arrived (or its stream stopped waiting): admit the next ones in order.
    func endAdmission(_ stream: HTTP2StreamState) {
        for admitted in budget.endAdmission(stream.id) { widen(admitted) }
    }

    /// `count` bytes of `stream` now sit in our buffers.
    func hold(_ stream: HTTP2StreamState, _ count: Int) {
        budget.hold(stream.id, count)
    }

    /// `count` of `stream`'s bytes (exactly that many are held) left our buffers: the peer may
    /// send that much more.
    func release(_ stream: HTTP2StreamState, _ count: Int) {
        guard count > 0 else { return }
        budget.release(stream.id, count)
        announceReleased(stream, count)
    }

    /// Releases everything `stream` holds.
    func releaseAll(_ stream: HTTP2StreamState) {
        announceReleased(stream, budget.releaseAll(stream.id))
    }

    func announceReleased(_ stream: HTTP2StreamState, _ count: Int) {
        guard count > 0 else { return }
        if stream.streamWindowReleasedOnArrival {
            session?.consumeConnection(count)
        } else {
            session?.consume(stream.id, count)
        }
        requestFlush()
    }

    /// Stops reading a stream's request: buffers dropped, bytes released, later DATA ignored.
    func reject(_ stream: HTTP2StreamState) {
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
    func relieveBufferPressure() {
        guard let session, !closed else { return }
        while session.connectionReceiveWindowLeft <= 0 {
            // Released bytes nghttp2 has not announced yet (it waits for half a window): say so now.
            session.announceConsumedConnectionBytes(unconsumedBytes: budget.bufferedBytes)
            if session.connectionReceiveWindowLeft > 0 { break }
            // A complete unary request waits only for END_STREAM, which needs no window.
            if streams.values.contains(where: { $0.unaryRequest != nil && !$0.remoteEnded }) { return }
            // Complete calls waiting for the peer to read earlier answers free their bytes as
            // soon as it does: that is progress, not a stall (`SendBacklog`).
            if backlog.hasWaitingCalls { return }
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

    func drainMessages(_ stream: HTTP2StreamState, handler: GRPCMethodHandler) {
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

    func remoteEnded(_ stream: HTTP2StreamState) {
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
}
