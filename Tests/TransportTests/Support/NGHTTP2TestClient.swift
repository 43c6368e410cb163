import CNGHTTP2
import NIOCore

/// A test-only HTTP/2 client: one `nghttp2` client session driven through its memory API, so a
/// test can speak real HTTP/2 to `HTTP2ServerHandler` on an `EmbeddedChannel` without a socket.
///
/// It records what the server sent per stream (response headers, DATA bytes, trailers, RST_STREAM,
/// how the stream closed) and every frame it received, in order. Request bodies are queued per
/// stream and pulled by nghttp2 as the server's windows allow.
///
/// With `manualWindowUpdates`, the client sends WINDOW_UPDATE only for bytes the test consumes
/// (`consume`), so a test controls exactly how much the server may send.
/// Not thread-safe; the test's thread only.
final class NGHTTP2TestClient {
    struct Stream {
        var responseHeaders: [(String, String)] = []
        var trailers: [(String, String)] = []
        var data: [UInt8] = []
        /// HEADERS blocks received (response headers, then trailers).
        var headerBlocks = 0
        var endStreamReceived = false
        var resetCode: UInt32?
        var closed = false
        var closeCode: UInt32?

        func header(_ name: String) -> String? { responseHeaders.first { $0.0 == name }?.1 }
        func trailer(_ name: String) -> String? { trailers.first { $0.0 == name }?.1 }
        /// The status of a gRPC call: from the trailers, or from a trailers-only response.
        var grpcStatus: String? { trailer("grpc-status") ?? header("grpc-status") }
        var grpcMessage: String? { trailer("grpc-message") ?? header("grpc-message") }
    }

    struct Frame: Equatable {
        var streamID: Int32
        var type: UInt8
        var flags: UInt8
        var length: Int
        var errorCode: UInt32?

        var endsStream: Bool { flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 }
    }

    static let frameData = UInt8(NGHTTP2_DATA.rawValue)
    static let frameHeaders = UInt8(NGHTTP2_HEADERS.rawValue)
    static let frameRSTStream = UInt8(NGHTTP2_RST_STREAM.rawValue)
    static let frameGoAway = UInt8(NGHTTP2_GOAWAY.rawValue)
    static let frameWindowUpdate = UInt8(NGHTTP2_WINDOW_UPDATE.rawValue)
    static let frameSettings = UInt8(NGHTTP2_SETTINGS.rawValue)
    static let errorNone: UInt32 = NGHTTP2_NO_ERROR.rawValue
    static let errorCancel: UInt32 = NGHTTP2_CANCEL.rawValue
    static let errorRefusedStream: UInt32 = NGHTTP2_REFUSED_STREAM.rawValue

    private var session: OpaquePointer!
    private(set) var streams: [Int32: Stream] = [:]
    private(set) var framesReceived: [Frame] = []
    private(set) var framesSent: [Frame] = []
    /// DATA payload bytes received (padding included) on all streams.
    private(set) var dataBytesReceived = 0
    /// Bytes handed to `consume` so far.
    private(set) var dataBytesConsumed = 0
    let manualWindowUpdates: Bool
    /// Set when `receive` failed: the server broke the protocol (or the client gave up).
    private(set) var receiveError: Int32?

    private struct Body {
        var bytes: [UInt8] = []
        var offset = 0
        var ended = false
        var deferred = false
    }
    private var bodies: [Int32: Body] = [:]

    /// - Parameters:
    ///   - initialWindowBytes: SETTINGS_INITIAL_WINDOW_SIZE the client announces (stream windows).
    ///   - connectionWindowBytes: the connection-level receive window, if other than 65535.
    init(initialWindowBytes: UInt32 = 65_535, connectionWindowBytes: Int32? = nil, manualWindowUpdates: Bool = false) {
        self.manualWindowUpdates = manualWindowUpdates
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks, clientOnHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, clientOnFrameRecv)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, clientOnFrameSend)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, clientOnDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, clientOnStreamClose)
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        if manualWindowUpdates { nghttp2_option_set_no_auto_window_update(option, 1) }
        var s: OpaquePointer?
        let rc = nghttp2_session_client_new2(&s, callbacks, nil, option)
        precondition(rc == 0, "nghttp2_session_client_new2: \(rc)")
        session = s
        nghttp2_session_set_user_data(s, Unmanaged.passUnretained(self).toOpaque())
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: initialWindowBytes),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        precondition(nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0)
        if let connectionWindowBytes {
            precondition(nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, connectionWindowBytes) == 0)
        }
    }

    deinit {
        nghttp2_session_del(session)
    }

    fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2TestClient {
        Unmanaged<NGHTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
    }

    subscript(_ id: Int32) -> Stream { streams[id] ?? Stream() }

    // MARK: requests

    /// Opens a stream. `body` nil and `endStream` true: a HEADERS frame with END_STREAM. Otherwise
    /// the body bytes follow in DATA frames, and `endStream` says whether the last one ends the stream
    /// (more can be added with `send`).
    @discardableResult
    func request(_ headers: [(String, String)], body: [UInt8]? = nil, endStream: Bool = true) -> Int32 {
        let hasBody = body != nil || !endStream
        let id: Int32 = withNameValues(headers) { nva, count in
            if hasBody {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: clientReadBody)
                return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
            }
            return nghttp2_submit_request(session, nil, nva, count, nil, nil)
        }
        precondition(id > 0, "nghttp2_submit_request: \(id)")
        streams[id] = Stream()
        if hasBody { bodies[id] = Body(bytes: body ?? [], offset: 0, ended: endStream) }
        return id
    }

    /// A gRPC call's request headers.
    static func grpcHeaders(_ path: String, timeout: String? = nil, extra: [(String, String)] = []) -> [(String, String)] {
        var h = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                 ("content-type", "application/grpc"), ("te", "trailers")]
        if let timeout { h.append(("grpc-timeout", timeout)) }
        return h + extra
    }

    @discardableResult
    func grpcCall(_ path: String, messages: [[UInt8]], endStream: Bool = true, timeout: String? = nil,
                  extra: [(String, String)] = []) -> Int32 {
        var body: [UInt8] = []
        for m in messages { body += Self.frame(m) }
        return request(Self.grpcHeaders(path, timeout: timeout, extra: extra), body: body, endStream: endStream)
    }

    /// Appends body bytes to an open stream.
    func send(_ id: Int32, _ bytes: [UInt8], endStream: Bool = false) {
        guard var body = bodies[id] else { preconditionFailure("stream \(id) has no open body") }
        body.bytes += bytes
        body.ended = endStream
        let wake = body.deferred
        body.deferred = false
        bodies[id] = body
        if wake { _ = nghttp2_session_resume_data(session, id) }
    }

    func reset(_ id: Int32, errorCode: UInt32 = NGHTTP2_CANCEL.rawValue) {
        bodies[id] = nil
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, errorCode)
    }

    func ping() {
        _ = nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// Tells nghttp2 the test has read `count` bytes of the stream (manual window updates only).
    func consume(_ id: Int32, _ count: Int) {
        precondition(manualWindowUpdates)
        guard count > 0 else { return }
        precondition(nghttp2_session_consume(session, id, count) == 0)
        dataBytesConsumed += count
    }

    /// How many more DATA bytes the server may send on the connection.
    var connectionWindowLeft: Int { Int(nghttp2_session_get_local_window_size(session)) }

    /// How many DATA bytes this client may still send on stream `id` (min of stream and
    /// connection windows), or -1 for an unknown stream.
    func sendWindow(_ id: Int32) -> Int { Int(nghttp2_session_get_stream_remote_window_size(session, id)) }
    var connectionSendWindow: Int { Int(nghttp2_session_get_remote_window_size(session)) }

    static func frame(_ message: [UInt8], compressed: Bool = false) -> [UInt8] {
        let n = UInt32(message.count)
        return [compressed ? 1 : 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + message
    }

    /// Splits received DATA bytes into gRPC messages (test data is always well-formed).
    static func messages(_ data: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i + 5 <= data.count {
            let n = Int(data[i + 1]) << 24 | Int(data[i + 2]) << 16 | Int(data[i + 3]) << 8 | Int(data[i + 4])
            guard i + 5 + n <= data.count else { break }
            out.append(Array(data[(i + 5)..<(i + 5 + n)]))
            i += 5 + n
        }
        return out
    }

    // MARK: I/O

    /// Everything nghttp2 wants to send now (the connection preface first).
    func produce() -> [UInt8] {
        var out: [UInt8] = []
        while true {
            var chunk: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &chunk)
            precondition(n >= 0, "client mem_send: \(n)")
            if n == 0 { break }
            // The chunk dies at the next mem_send call: copy now.
            out += UnsafeBufferPointer(start: chunk, count: n)
        }
        return out
    }

    func receive(_ buffer: ByteBuffer) {
        guard receiveError == nil else { return }
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let rc = nghttp2_session_mem_recv(session, base, raw.count)
            if rc < 0 { receiveError = Int32(rc) }
        }
    }

    // MARK: callbacks

    fileprivate func onHeader(_ streamID: Int32, category: nghttp2_headers_category, _ name: String, _ value: String) {
        var s = streams[streamID] ?? Stream()
        if s.headerBlocks == 0 && category == NGHTTP2_HCAT_RESPONSE {
            s.responseHeaders.append((name, value))
        } else {
            s.trailers.append((name, value))
        }
        streams[streamID] = s
    }

    fileprivate func onFrameRecv(_ frame: UnsafePointer<nghttp2_frame>) {
        let hd = frame.pointee.hd
        var record = Frame(streamID: hd.stream_id, type: hd.type, flags: hd.flags, length: hd.length)
        if hd.type == Self.frameRSTStream { record.errorCode = frame.pointee.rst_stream.error_code }
        if hd.type == Self.frameGoAway { record.errorCode = frame.pointee.goaway.error_code }
        framesReceived.append(record)
        guard hd.stream_id != 0, var s = streams[hd.stream_id] else { return }
        if hd.type == Self.frameHeaders { s.headerBlocks += 1 }
        if hd.type == Self.frameData { dataBytesReceived += hd.length }
        if record.endsStream && (hd.type == Self.frameHeaders || hd.type == Self.frameData) { s.endStreamReceived = true }
        if hd.type == Self.frameRSTStream { s.resetCode = record.errorCode }
        streams[hd.stream_id] = s
    }

    fileprivate func onFrameSend(_ frame: UnsafePointer<nghttp2_frame>) {
        let hd = frame.pointee.hd
        framesSent.append(Frame(streamID: hd.stream_id, type: hd.type, flags: hd.flags, length: hd.length))
    }

    fileprivate func onData(_ streamID: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        streams[streamID, default: Stream()].data += bytes
    }

    fileprivate func onClose(_ streamID: Int32, _ code: UInt32) {
        streams[streamID, default: Stream()].closed = true
        streams[streamID, default: Stream()].closeCode = code
        bodies[streamID] = nil
    }

    fileprivate func readBody(_ streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>?) -> Int {
        guard var body = bodies[streamID] else {
            flags?.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let n = min(buffer.count, body.bytes.count - body.offset)
        if n > 0 {
            body.bytes.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body.offset..<(body.offset + n)]))
            }
            body.offset += n
        }
        if body.offset == body.bytes.count {
            if body.ended {
                bodies[streamID] = nil
                flags?.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                return n
            }
            if n == 0 {
                body.deferred = true
                bodies[streamID] = body
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        bodies[streamID] = body
        return n
    }

    private func withNameValues<R>(_ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        var storage: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for (name, value) in headers {
            let n0 = storage.count
            storage.append(contentsOf: name.utf8)
            let v0 = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((n0, v0 - n0, v0, storage.count - v0))
        }
        storage.append(0)
        return storage.withUnsafeMutableBufferPointer { raw in
            let base = raw.baseAddress!
            var nva = spans.map { span in
                nghttp2_nv(name: base + span.0, value: base + span.2, namelen: span.1, valuelen: span.3,
                           flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}

private let clientOnHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, userData in
    guard let frame else { return 0 }
    let n = String(decoding: UnsafeBufferPointer(start: name, count: namelen), as: UTF8.self)
    let v = String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)
    NGHTTP2TestClient.from(userData).onHeader(frame.pointee.hd.stream_id, category: frame.pointee.headers.cat, n, v)
    return 0
}

private let clientOnFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return 0 }
    NGHTTP2TestClient.from(userData).onFrameRecv(frame)
    return 0
}

private let clientOnFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame else { return 0 }
    NGHTTP2TestClient.from(userData).onFrameSend(frame)
    return 0
}

private let clientOnDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, len, userData in
    NGHTTP2TestClient.from(userData).onData(streamID, UnsafeBufferPointer(start: data, count: len))
    return 0
}

private let clientOnStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    NGHTTP2TestClient.from(userData).onClose(streamID, errorCode)
    return 0
}

private let clientReadBody: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, userData in
    NGHTTP2TestClient.from(userData).readBody(streamID, into: UnsafeMutableRawBufferPointer(start: buf, count: length), flags: flags)
}
