import Foundation
import Logging
import NIOCore

/// Header intake: HTTP/2's field rules (`RequestHeaderRules`), the fields etcd reads, the limit on
/// header bytes, and the classification of a complete request head into a gRPC call (unary or
/// streaming), a plain HTTP request, or a refusal. Runs inside nghttp2's `mem_recv` callbacks:
/// it only records state and queues work (`pendingWork`).
extension HTTP2ServerHandler {
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
        case ":authority":
            // Not metadata etcd looks at; Go's HTTP/2 debug log shows it, and tools read that.
            if GoHTTP2Debug.enabled { GoHTTP2Debug.decodedField(n, v) }
        case ":scheme", "te", "user-agent", "grpc-accept-encoding", "accept-encoding", "content-length":
            // Not metadata etcd looks at.
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

    /// A request that breaks HTTP/2's header rules: its stream is reset with PROTOCOL_ERROR (as
    /// grpc-go and nghttp2 do) and whatever else arrives on it is dropped.
    func malformedRequest(_ stream: HTTP2StreamState) {
        stream.malformed = true
        reject(stream)
        session?.resetStream(stream.id, errorCode: NGHTTP2Session.errorCodeProtocol)
    }

    func classify(_ stream: HTTP2StreamState) {
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
}

/// Go's `GODEBUG=http2debug=2` trace, for the one line tools rely on: each decoded `:authority`
/// (etcd's e2e `TestAuthority` checks what clients sent there), printed as Go's HTTP/2 server
/// prints it, on stderr. Off unless the environment asks for it.
enum GoHTTP2Debug {
    static let enabled: Bool = {
        guard let godebug = getenv("GODEBUG").map({ String(cString: $0) }) else { return false }
        return godebug.split(separator: ",").contains { $0 == "http2debug=2" }
    }()

    static func decodedField(_ name: String, _ value: String) {
        let line = "http2: decoded hpack field header field \"\(name)\" = \"\(value)\"\n"
        var bytes = Array(line.utf8)
        _ = write(2, &bytes, bytes.count)
    }
}
