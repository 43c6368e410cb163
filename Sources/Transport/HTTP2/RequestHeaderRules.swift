internal import CNGHTTP2

/// HTTP/2's rules for one request's header fields (RFC 9113 §8.2–8.3), checked field by field as
/// nghttp2 decodes them.
///
/// Why we check them and not nghttp2: nghttp2's own "HTTP messaging" checks also insist that
/// `:authority` be a bare `host[:port]`, and etcd's Go clients send `http://host:port` there
/// (clientv3 3.4 dials maintenance calls as `passthrough:///http://host:port`): with nghttp2's
/// checks, `etcdctl --endpoints http://… endpoint status` got RST_STREAM PROTOCOL_ERROR where etcd
/// (grpc-go) answers. So the session runs with `no_http_messaging`, and this enforces what grpc-go
/// enforces: valid names and values, the pseudo-header rules, no connection-specific fields.
/// `:authority` only has to be a valid field value, as for grpc-go.
///
/// A violation makes the request malformed: the stream is reset with PROTOCOL_ERROR. Value type,
/// one per stream, event loop only.
struct RequestHeaderRules {
    private var seenPseudo: UInt8 = 0
    private var sawRegularField = false
    /// Fields after the request's header block (trailers) may not carry pseudo-headers.
    var inTrailers = false

    private static let method: UInt8 = 1, scheme: UInt8 = 2, path: UInt8 = 4, authority: UInt8 = 8

    /// Whether one field may appear at this point of the request.
    mutating func accept(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        guard let n = name.baseAddress?.assumingMemoryBound(to: UInt8.self), name.count > 0 else { return false }
        // Lower-case tokens (a leading ':' allowed), values without NUL, CR or LF.
        guard nghttp2_check_header_name(n, name.count) != 0 else { return false }
        let v = value.baseAddress?.assumingMemoryBound(to: UInt8.self)
        if value.count > 0, let v, nghttp2_check_header_value(v, value.count) == 0 { return false }

        if name[0] == UInt8(ascii: ":") {
            if inTrailers || sawRegularField { return false }
            let bit: UInt8
            switch String(decoding: name, as: UTF8.self) {
            case ":method": bit = Self.method
            case ":scheme": bit = Self.scheme
            case ":path": bit = Self.path
            case ":authority": bit = Self.authority
            default: return false  // unknown pseudo-header (incl. :protocol: no extended CONNECT)
            }
            if seenPseudo & bit != 0 { return false }
            // A request's :path is an absolute path (or "*", for OPTIONS).
            if bit == Self.path && !(value.first == UInt8(ascii: "/") || value.elementsEqual("*".utf8)) { return false }
            seenPseudo |= bit
            return true
        }
        sawRegularField = true
        switch String(decoding: name, as: UTF8.self) {
        case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
            return false
        case "te":
            return value.elementsEqual("trailers".utf8)
        default:
            return true
        }
    }

    /// At the end of the request's header block: the pseudo-headers every request needs are there
    /// (`:method`, `:scheme`, `:path`; we serve no CONNECT).
    var isCompleteRequest: Bool {
        seenPseudo & (Self.method | Self.scheme | Self.path) == (Self.method | Self.scheme | Self.path)
    }
}
