internal import CNGHTTP2
import NIOCore

/// What a stream's data source hands nghttp2 when it asks for body bytes.
enum NGHTTP2OutboundRead {
    /// `count` bytes were copied into nghttp2's buffer. `endOfData` ends the body; `trailers`
    /// (only with `endOfData`) are sent in a final HEADERS frame that carries END_STREAM instead.
    case bytes(count: Int, endOfData: Bool, trailers: [(String, String)]?)
    /// Nothing to send yet; the stream must call `resumeData` when it has more.
    case deferred
}

/// Events nghttp2 reports. Every method is called synchronously from inside `receive` or `send`,
/// on the connection's event loop; none may call back into the session except the documented
/// submit functions (`submitTrailers` from `readOutbound` is allowed by nghttp2).
protocol NGHTTP2SessionDelegate: AnyObject {
    func streamBegan(_ streamID: Int32)
    func header(_ streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// A HEADERS frame ended (request headers, or trailers). `endStream`: the peer half-closed.
    func headersEnded(_ streamID: Int32, endStream: Bool)
    /// DATA payload bytes; borrowed, valid only during the call.
    func data(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer)
    /// A DATA frame carrying END_STREAM.
    func dataEndedStream(_ streamID: Int32)
    func streamClosed(_ streamID: Int32, errorCode: UInt32)
    /// A HEADERS or DATA frame carrying END_STREAM left for the peer (inside `send`): our side of
    /// the stream is done. Called after the frame is serialised, so anything submitted from here
    /// (an RST_STREAM) goes out after it.
    func sentEndStream(_ streamID: Int32)
    func readOutbound(_ streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> NGHTTP2OutboundRead
}

/// Failures of the HTTP/2 session as a whole; the connection is closed after any of them.
enum NGHTTP2Error: Error, Equatable {
    case library(code: Int32, message: String)

    init(code: Int32) {
        let message = String(cString: nghttp2_strerror(code))
        self = .library(code: code, message: message)
    }
}

/// Owns one server-side `nghttp2_session` driven through its memory API
/// (`nghttp2_session_mem_recv` / `nghttp2_session_mem_send`): nghttp2 never sees a socket.
///
/// Ownership: the session pointer is created in `init` and freed in `deinit`; nothing else frees
/// it. The delegate is held `unowned(unsafe)`: the handler that owns this object is the delegate and
/// outlives it. nghttp2 keeps `self` as user data, unretained, for the same reason.
/// Threading: event loop of the connection only.
final class NGHTTP2Session {
    private var session: OpaquePointer?
    private unowned(unsafe) let delegate: NGHTTP2SessionDelegate

    /// SETTINGS we announce. `maxConcurrentStreams` nil = unlimited (etcd's default).
    ///
    /// Flow control on input is manual (`nghttp2_option_set_no_auto_window_update`): nghttp2 opens
    /// the peer's windows again only for bytes the delegate reports with `consumeStream` /
    /// `consumeConnection`. The connection window, `connectionWindowBytes`, is therefore a hard
    /// bound on request bytes received and not yet released by the handler.
    struct Settings {
        var maxConcurrentStreams: UInt32?
        var initialWindowSize: UInt32 = 1 << 20
        var maxHeaderListSize: UInt32 = 16 << 20
        var connectionWindowBytes: Int32 = 4 << 20
    }

    init(delegate: NGHTTP2SessionDelegate, settings: Settings) throws(NGHTTP2Error) {
        self.delegate = delegate
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Bound memory a peer can make us spend on control frames it never reads the ACKs of.
        nghttp2_option_set_max_outbound_ack(option, 1000)
        // Window updates follow what the handler has taken out of its buffers, not what arrived.
        nghttp2_option_set_no_auto_window_update(option, 1)
        // HTTP's header rules are checked by the handler (`RequestHeaderRules`): nghttp2's
        // refuse the `:authority` etcd's Go clients send (`http://host:port`).
        nghttp2_option_set_no_http_messaging(option, 1)

        var newSession: OpaquePointer?
        let rc = nghttp2_session_server_new2(&newSession, callbacks, nil, option)
        guard rc == 0, let newSession else { throw NGHTTP2Error(code: rc) }
        session = newSession
        // nghttp2 only stores user data; set it once self is fully initialised.
        nghttp2_session_set_user_data(newSession, Unmanaged.passUnretained(self).toOpaque())

        var entries: [nghttp2_settings_entry] = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
        ]
        if let streams = settings.maxConcurrentStreams {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: streams))
        }
        let src = nghttp2_submit_settings(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        guard src == 0 else { throw NGHTTP2Error(code: src) }
        // The connection-level receive window is the per-connection budget of buffered request
        // bytes (see `Settings`).
        let wrc = nghttp2_session_set_local_window_size(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowBytes)
        guard wrc == 0 else { throw NGHTTP2Error(code: wrc) }
    }

    deinit {
        nghttp2_session_del(session)
    }

    fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2Session {
        Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
    }

    fileprivate var delegateForCallbacks: NGHTTP2SessionDelegate { delegate }

    // MARK: input

    /// Feeds received bytes; events arrive on the delegate before this returns.
    func receive(_ bytes: UnsafeRawBufferPointer) throws(NGHTTP2Error) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let rc = nghttp2_session_mem_recv(session, base, bytes.count)
        if rc < 0 { throw NGHTTP2Error(code: Int32(rc)) }
    }

    // MARK: output

    /// Appends every frame nghttp2 has ready to `buffer`, up to about `limitBytes`.
    /// Returns whether nghttp2 may have more to send (call again once the channel is writable).
    ///
    /// `nghttp2_session_mem_send` returns a pointer into nghttp2's own buffer that dies at the next
    /// call, so each chunk is copied into `buffer` immediately.
    func send(into buffer: inout ByteBuffer, limitBytes: Int) throws(NGHTTP2Error) -> Bool {
        while buffer.readableBytes < limitBytes {
            var chunk: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &chunk)
            if n < 0 { throw NGHTTP2Error(code: Int32(n)) }
            if n == 0 { return false }
            buffer.writeBytes(UnsafeRawBufferPointer(start: chunk, count: n))
        }
        return true
    }

    /// Releases `count` received DATA bytes of a stream at the stream level only: the stream's
    /// window reopens, the connection's does not.
    func consumeStream(_ streamID: Int32, _ count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume_stream(session, streamID, count)
    }

    /// Releases `count` received DATA bytes of a stream at both levels.
    func consume(_ streamID: Int32, _ count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume(session, streamID, count)
    }

    /// Like `announceConsumedConnectionBytes`, for one stream's window.
    func announceConsumedStreamBytes(_ streamID: Int32, unconsumedBytes: Int) {
        let received = Int(nghttp2_session_get_stream_effective_recv_data_length(session, streamID))
        let consumed = received - unconsumedBytes
        guard consumed > 0 else { return }
        _ = nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, Int32(consumed))
    }

    /// DATA bytes the peer may still send on a stream before we release more (-1: no stream).
    func streamReceiveWindowLeft(_ streamID: Int32) -> Int {
        Int(nghttp2_session_get_stream_local_window_size(session, streamID))
    }

    /// Widens a stream's receive window to `bytes` (never narrows it); nghttp2 sends the
    /// WINDOW_UPDATE for the difference.
    func widenStreamWindow(_ streamID: Int32, to bytes: Int) {
        let current = Int(nghttp2_session_get_stream_effective_local_window_size(session, streamID))
        guard current >= 0, bytes > current else { return }
        _ = nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, Int32(min(bytes, Int(Int32.max))))
    }

    /// Releases `count` received DATA bytes at the connection level.
    func consumeConnection(_ count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume_connection(session, count)
    }

    /// Sends the connection-level WINDOW_UPDATE for every consumed byte now, instead of when
    /// nghttp2's own threshold (half the window) is reached. `unconsumedBytes` is what the
    /// delegate still holds; everything else received since the last WINDOW_UPDATE was consumed.
    /// (`nghttp2_submit_window_update` with an increment no larger than the received-but-not-
    /// announced count only moves that count, exactly as the automatic update would.)
    func announceConsumedConnectionBytes(unconsumedBytes: Int) {
        let received = Int(nghttp2_session_get_effective_recv_data_length(session))
        let consumed = received - unconsumedBytes
        guard consumed > 0 else { return }
        _ = nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(consumed))
    }

    /// DATA bytes the peer may still send on the connection before we release more.
    var connectionReceiveWindowLeft: Int { Int(nghttp2_session_get_local_window_size(session)) }

    var wantsRead: Bool { nghttp2_session_want_read(session) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    // MARK: submissions

    /// Response HEADERS. With `hasBody`, a data source pulls the body from the delegate's
    /// `readOutbound`; without it, the HEADERS frame carries END_STREAM (a gRPC "trailers-only"
    /// response when the headers include `grpc-status`).
    func submitResponse(_ streamID: Int32, headers: [(String, String)], hasBody: Bool) throws(NGHTTP2Error) {
        let rc: Int32 = Self.withNameValues(headers) { nva, count in
            if hasBody {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: onReadData)
                return nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        guard rc == 0 else { throw NGHTTP2Error(code: rc) }
    }

    func submitTrailers(_ streamID: Int32, headers: [(String, String)]) {
        _ = Self.withNameValues(headers) { nva, count in
            nghttp2_submit_trailer(session, streamID, nva, count)
        }
    }

    /// Wakes a stream whose data source answered `.deferred`.
    func resumeData(_ streamID: Int32) {
        _ = nghttp2_session_resume_data(session, streamID)
    }

    func resetStream(_ streamID: Int32, errorCode: UInt32) {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Graceful GOAWAY: no new streams; streams already open finish.
    func submitGoAway(errorCode: UInt32 = 0) {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    static let errorCodeNoError: UInt32 = NGHTTP2_NO_ERROR.rawValue
    static let errorCodeCancel: UInt32 = NGHTTP2_CANCEL.rawValue
    static let errorCodeInternal: UInt32 = NGHTTP2_INTERNAL_ERROR.rawValue
    static let errorCodeProtocol: UInt32 = NGHTTP2_PROTOCOL_ERROR.rawValue
    static let errorCodeRefusedStream: UInt32 = NGHTTP2_REFUSED_STREAM.rawValue

    /// Builds an `nghttp2_nv` array over one contiguous copy of all names and values; nghttp2
    /// copies them during the call (no NO_COPY flags), so the storage may die afterwards.
    private static func withNameValues<R>(_ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        var storage: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        spans.reserveCapacity(headers.count)
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
                nghttp2_nv(
                    name: base + span.0, value: base + span.2, namelen: span.1, valuelen: span.3,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}

// MARK: C callbacks (no captures; `user_data` is the unretained NGHTTP2Session)

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame else { return 0 }
    if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
        NGHTTP2Session.from(userData).delegateForCallbacks.streamBegan(frame.pointee.hd.stream_id)
    }
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, userData in
    guard let frame else { return 0 }
    NGHTTP2Session.from(userData).delegateForCallbacks.header(
        frame.pointee.hd.stream_id,
        name: UnsafeRawBufferPointer(start: name, count: namelen),
        value: UnsafeRawBufferPointer(start: value, count: valuelen))
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return 0 }
    let hd = frame.pointee.hd
    let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    let delegate = NGHTTP2Session.from(userData).delegateForCallbacks
    switch Int(hd.type) {
    case Int(NGHTTP2_HEADERS.rawValue):
        delegate.headersEnded(hd.stream_id, endStream: endStream)
    case Int(NGHTTP2_DATA.rawValue):
        if endStream { delegate.dataEndedStream(hd.stream_id) }
    default:
        break
    }
    return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, len, userData in
    NGHTTP2Session.from(userData).delegateForCallbacks.data(streamID, UnsafeRawBufferPointer(start: data, count: len))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    NGHTTP2Session.from(userData).delegateForCallbacks.streamClosed(streamID, errorCode: errorCode)
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame else { return 0 }
    let hd = frame.pointee.hd
    let type = Int(hd.type)
    if hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
        type == Int(NGHTTP2_HEADERS.rawValue) || type == Int(NGHTTP2_DATA.rawValue)
    {
        NGHTTP2Session.from(userData).delegateForCallbacks.sentEndStream(hd.stream_id)
    }
    return 0
}

private let onReadData: nghttp2_data_source_read_callback = { _, streamID, buf, length, dataFlags, _, userData in
    let session = NGHTTP2Session.from(userData)
    let target = UnsafeMutableRawBufferPointer(start: buf, count: length)
    switch session.delegateForCallbacks.readOutbound(streamID, into: target) {
    case .deferred:
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
    case .bytes(let count, let endOfData, let trailers):
        if endOfData {
            var flags = NGHTTP2_DATA_FLAG_EOF.rawValue
            if let trailers {
                flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                session.submitTrailers(streamID, headers: trailers)
            }
            dataFlags?.pointee |= flags
        }
        return count
    }
}
