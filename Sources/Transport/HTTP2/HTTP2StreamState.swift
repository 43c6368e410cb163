import NIOCore

/// One HTTP/2 stream on the server side, as the connection handler tracks it.
///
/// Lives in `HTTP2ServerHandler.streams` from its first HEADERS frame until nghttp2 reports it
/// closed. Event loop only.
final class HTTP2StreamState {
    enum Role {
        /// Headers not complete yet.
        case pending
        /// A gRPC call (content-type application/grpc…).
        case grpc(GRPCMethodHandler)
        /// A gRPC request for an unknown method, or one already failed: further input is ignored.
        case rejected
        /// A plain HTTP request, served once its body is complete.
        case http
    }

    /// How the response body ends.
    enum OutboundEnd {
        case open
        /// gRPC: trailers in a final HEADERS frame with END_STREAM.
        case trailers([(String, String)])
        /// Plain HTTP: END_STREAM on the last DATA frame.
        case endOfBody
    }

    let id: Int32
    var role: Role = .pending
    var method = ""
    var path = ""
    var contentType = ""
    /// The `grpc-timeout` header, if the request had one.
    var timeout: String?
    var grpcEncoding = ""
    var metadata: [(name: String, value: String)] = []
    var headerBytes = 0
    /// HTTP/2's rules for the request's fields (nghttp2's own checks are off; see the type).
    var headerRules = RequestHeaderRules()
    /// The request was malformed and its stream reset: nothing more is done with it.
    var malformed = false

    // Inbound (the bytes this stream holds, and its admission, are in the handler's
    // `ReceiveBudget`).
    /// Plain HTTP bodies reopen the stream window on arrival; only the connection window waits.
    var streamWindowReleasedOnArrival = false
    var deframer: GRPCMessageDeframer?
    var httpBody: ByteBuffer?
    var remoteEnded = false
    var unaryRequest: [UInt8]?
    var dispatched = false
    var observer: (any GRPCStreamObserver)?
    /// Shared with the call's handle (set when the call is dispatched).
    var handleState: CallHandleState?
    /// Set when a gRPC call was dispatched and its end not yet counted (`GRPCCallMetrics`).
    var metricsKind: GRPCMethodKind?
    /// When the call was dispatched (its handling time is counted from there).
    var metricsStarted = NIODeadline.uptimeNanoseconds(0)
    var deadlineTask: Scheduled<Void>?

    // Outbound
    var responseStarted = false
    var outbound: ByteBuffer
    var outboundEnd: OutboundEnd = .open
    var dataDeferred = false
    /// The server ended the call (trailers queued); later sends are dropped.
    var finished = false
    /// The client went away (RST_STREAM, deadline, connection loss) before the server finished.
    var cancelled = false

    init(id: Int32, allocator: ByteBufferAllocator) {
        self.id = id
        self.outbound = allocator.buffer(capacity: 0)
    }

    var isGRPCContentType: Bool {
        contentType.hasPrefix("application/grpc")
    }
}
