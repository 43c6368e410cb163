internal import COpenSSL
import Logging
import NIOCore

/// Fired inbound once the TLS handshake completes.
public struct TLSHandshakeCompleted: Sendable {
    /// The ALPN protocol agreed on ("h2", "http/1.1"), if any.
    public var applicationProtocol: String?
    /// The verified client certificate's subject common name, if a certificate was presented.
    public var peerCommonName: String?
    /// The presented certificate's subject alternative names (empty without a certificate).
    public var peerSubjectAltNames = SubjectAltNames()
}

/// TLS on a channel, server or client side (`TLSContext.role`), with OpenSSL driven through a
/// pair of memory BIOs: ciphertext
/// from the socket is written into `readBIO`, `SSL_read` yields plaintext for the next handler;
/// plaintext writes go through `SSL_write` and the ciphertext left in `writeBIO` goes to the socket.
/// OpenSSL never touches the socket.
///
/// Ownership: `ssl` is created in `handlerAdded` and freed in `deinit`. The two BIOs are created
/// here with one reference each and handed to the `SSL` with `SSL_set0_rbio`/`SSL_set0_wbio`,
/// which take those references: `SSL_free` frees them; we never free a BIO ourselves.
/// Threading: event loop only. OpenSSL's error queue is per thread, so every failure path drains it.
final class TLSHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking
        case open
        case closing
        case closed
    }

    /// Plaintext bytes read per `SSL_read` call (one TLS record is at most 16 KiB).
    static let readChunkBytes = 16 * 1024

    private let tlsContext: TLSContext
    /// The host a client dials: sent as SNI, and the name the server's certificate must carry.
    private let serverName: String?
    private let logger: Logger
    private var ssl: OpaquePointer?
    private var readBIO: OpaquePointer?
    private var writeBIO: OpaquePointer?
    private var state: State = .handshaking
    /// Plaintext written before the handshake finished.
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private(set) var completion: TLSHandshakeCompleted?

    init(context: TLSContext, serverName: String? = nil, logger: Logger) {
        self.tlsContext = context
        self.serverName = serverName
        self.logger = logger
    }

    private var isClient: Bool { tlsContext.role != .server }

    deinit {
        if let ssl { SSL_free(ssl) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let ssl = SSL_new(tlsContext.context),
            let rbio = BIO_new(BIO_s_mem()),
            let wbio = BIO_new(BIO_s_mem())
        else {
            logger.error("cannot create TLS session", metadata: ["error": "\(TLSContext.drainErrors())"])
            context.close(promise: nil)
            return
        }
        // An empty read BIO must say "retry later", not EOF.
        _ = COpenSSL_BIO_set_mem_eof_return(rbio, -1)
        _ = COpenSSL_BIO_set_mem_eof_return(wbio, -1)
        SSL_set0_rbio(ssl, rbio)
        SSL_set0_wbio(ssl, wbio)
        self.ssl = ssl
        self.readBIO = rbio
        self.writeBIO = wbio
        guard isClient else {
            SSL_set_accept_state(ssl)
            return
        }
        SSL_set_connect_state(ssl)
        if let serverName, !serverName.isEmpty {
            let isIP = serverName.contains(":") || serverName.split(separator: ".").count == 4 && serverName.allSatisfy { $0.isNumber || $0 == "." }
            if !isIP { _ = COpenSSL_SSL_set_tlsext_host_name(ssl, serverName) }
            if case .client(skipServerVerification: false) = tlsContext.role {
                let param = SSL_get0_param(ssl)
                X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                _ = isIP ? X509_VERIFY_PARAM_set1_ip_asc(param, serverName) : X509_VERIFY_PARAM_set1_host(param, serverName, 0)
            }
        }
        // A client speaks first; if the channel is already connected, start now.
        if context.channel.isActive { startClientHandshake(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if isClient { startClientHandshake(context: context) }
        context.fireChannelActive()
    }

    private var clientHandshakeStarted = false

    private func startClientHandshake(context: ChannelHandlerContext) {
        guard !clientHandshakeStarted, state == .handshaking else { return }
        clientHandshakeStarted = true
        doHandshake(context: context)
        flushCiphertext(context: context, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let readBIO, state != .closed else { return }
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            _ = BIO_write(readBIO, base, Int32(raw.count))
        }
        if state == .handshaking { doHandshake(context: context) }
        if state == .open || state == .closing { readPlaintext(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushCiphertext(context: context, promise: nil)
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .handshaking:
            pendingWrites.append((buffer, promise))
        case .open:
            writePlaintext(buffer, context: context, promise: promise)
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    func flush(context: ChannelHandlerContext) {
        flushCiphertext(context: context, promise: nil)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if state == .open, let ssl {
            state = .closing
            _ = SSL_shutdown(ssl)
            ERR_clear_error()
            flushCiphertext(context: context, promise: nil)
        }
        state = .closed
        failPendingWrites()
        context.close(mode: mode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        failPendingWrites()
        context.fireChannelInactive()
    }

    // MARK: handshake

    private func doHandshake(context: ChannelHandlerContext) {
        guard let ssl else { return }
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            state = .open
            let done = TLSHandshakeCompleted(
                applicationProtocol: negotiatedProtocol(), peerCommonName: peerCommonName(), peerSubjectAltNames: peerSubjectAltNames())
            completion = done
            flushCiphertext(context: context, promise: nil)
            context.fireUserInboundEventTriggered(done)
            let writes = pendingWrites
            pendingWrites.removeAll()
            for (buffer, promise) in writes { writePlaintext(buffer, context: context, promise: promise) }
            if !writes.isEmpty { context.flush() }
            return
        }
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            flushCiphertext(context: context, promise: nil)
        default:
            var reason = TLSContext.drainErrors()
            let verify = Int32(SSL_get_verify_result(ssl))
            if !isClient && (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH || verify == X509_V_ERR_CERT_REJECTED) {
                // A certificate refused for its CN or host name (--peer-cert-allowed-cn/-hostname):
                // etcd's VerifyPeerCertificate error.
                reason = "client certificate authentication failed (\(reason))"
            }
            // The alert for the client (e.g. bad certificate) is in the write BIO: send it first.
            flushCiphertext(context: context, promise: nil)
            logger.warning(
                isClient ? "TLS handshake with a peer failed" : "rejected connection on \(tlsContext.configuration.endpoint.rawValue) endpoint",
                metadata: ["remote-addr": "\(context.remoteAddress.map { "\($0)" } ?? "")", "error": "\(isClient ? Self.goAlertText(reason) : reason)"])
            state = .closed
            failPendingWrites()
            if isClient { context.fireErrorCaught(TLSError.handshake(Self.goAlertText(reason))) }
            context.close(promise: nil)
        }
    }

    /// A client-side handshake failure in Go's words when the server sent an alert (etcd's logs
    /// and tests look for "remote error: tls: bad certificate"), else OpenSSL's.
    static func goAlertText(_ openSSLReason: String) -> String {
        let alerts = [
            ("alert bad certificate", "bad certificate"), ("alert certificate required", "certificate required"),
            ("alert handshake failure", "handshake failure"), ("alert unknown ca", "unknown certificate authority"),
            ("alert certificate revoked", "revoked certificate"), ("alert protocol version", "protocol version not supported"),
        ]
        for (openSSL, go) in alerts where openSSLReason.contains(openSSL) { return "remote error: tls: \(go) (\(openSSLReason))" }
        return openSSLReason
    }

    private func negotiatedProtocol() -> String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    private func peerCommonName() -> String? {
        guard let cert = COpenSSL_SSL_get_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        var buf = [CChar](repeating: 0, count: 256)
        let n = COpenSSL_certificate_common_name(cert, &buf, Int32(buf.count))
        guard n >= 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func peerSubjectAltNames() -> SubjectAltNames {
        guard let cert = COpenSSL_SSL_get_peer_certificate(ssl) else { return SubjectAltNames() }
        defer { X509_free(cert) }
        var names = SubjectAltNames()
        var buf = [UInt8](repeating: 0, count: 256)
        var index: Int32 = 0
        while true {
            var type: Int32 = 0
            let n = COpenSSL_certificate_san_at(cert, index, &type, &buf, Int32(buf.count))
            if n < 0 { break }
            let bytes = Array(buf.prefix(Int(n)))
            if type == 1 {
                names.dnsNames.append(String(decoding: bytes, as: UTF8.self))
            } else if type == 2, let address = SubjectAltNames.ipString(bytes) {
                names.ipAddresses.append(address)
            }
            index += 1
        }
        return names
    }

    // MARK: data

    private func readPlaintext(context: ChannelHandlerContext) {
        guard let ssl else { return }
        while state == .open || state == .closing {
            var buffer = context.channel.allocator.buffer(capacity: Self.readChunkBytes)
            var result: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.readChunkBytes) { raw in
                result = SSL_read(ssl, raw.baseAddress, Int32(min(raw.count, Int(Int32.max))))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 {
                context.fireChannelRead(wrapInboundOut(buffer))
                continue
            }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                flushCiphertext(context: context, promise: nil)
                return
            case SSL_ERROR_ZERO_RETURN:
                // close_notify from the client.
                ERR_clear_error()
                context.close(promise: nil)
                return
            default:
                let reason = TLSContext.drainErrors()
                logger.debug("tls read failed", metadata: ["error": "\(reason)"])
                state = .closed
                // TLS 1.3: a server that refuses our certificate says so after our handshake ended.
                if isClient { context.fireErrorCaught(TLSError.handshake(Self.goAlertText(reason))) }
                context.close(promise: nil)
                return
            }
        }
    }

    private func writePlaintext(_ buffer: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let ssl else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var failed = false
        buffer.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = SSL_write(ssl, raw.baseAddress! + offset, Int32(min(raw.count - offset, Int(Int32.max))))
                if n <= 0 {
                    failed = true
                    return
                }
                offset += Int(n)
            }
        }
        if failed {
            let reason = TLSContext.drainErrors()
            logger.debug("tls write failed", metadata: ["error": "\(reason)"])
            promise?.fail(ChannelError.ioOnClosedChannel)
            context.close(promise: nil)
            return
        }
        // Ciphertext is queued in the write BIO; it goes out with the promise on the next flush.
        flushCiphertext(context: context, promise: promise, flush: false)
    }

    /// Moves all ciphertext from the write BIO to the channel.
    private func flushCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool = true) {
        guard let writeBIO else {
            promise?.succeed(())
            return
        }
        let pending = COpenSSL_BIO_pending(writeBIO)
        if pending > 0 {
            var out = context.channel.allocator.buffer(capacity: pending)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { raw in
                let n = BIO_read(writeBIO, raw.baseAddress, Int32(pending))
                return n > 0 ? Int(n) : 0
            }
            context.write(NIOAny(out), promise: promise)
        } else {
            promise?.succeed(())
        }
        if flush { context.flush() }
    }

    private func failPendingWrites() {
        let writes = pendingWrites
        pendingWrites.removeAll()
        for (_, promise) in writes { promise?.fail(ChannelError.ioOnClosedChannel) }
    }
}
