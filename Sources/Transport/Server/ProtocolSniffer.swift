import NIOCore

/// Tells HTTP/2 with prior knowledge (gRPC) from HTTP/1.1 by the first bytes a client sends,
/// then installs the matching handlers after itself and leaves the pipeline.
///
/// An HTTP/2 client must open with the 24-byte preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`; any
/// other first bytes are HTTP/1.1 (`GET /health ...`). It decides as soon as the bytes seen so far
/// stop matching the preface, or the whole preface has arrived. It also remembers the TLS
/// handshake result (which arrives before any plaintext) for the installed handlers.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Detected {
        case http2
        case http1
    }

    static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Installs the handlers for the detected protocol after the sniffer (synchronously).
    typealias Installer = (ChannelHandlerContext, Detected, TLSHandshakeCompleted?) throws -> Void

    private let install: Installer
    private var buffered: ByteBuffer?
    private var tls: TLSHandshakeCompleted?

    init(install: @escaping Installer) {
        self.install = install
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted { tls = done }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        guard let decision = Self.detect(buffered!) else { return }
        do {
            try install(context, decision, tls)
        } catch {
            context.close(promise: nil)
            return
        }
        let bytes = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// nil while the bytes so far are a proper prefix of the HTTP/2 preface.
    static func detect(_ buffer: ByteBuffer) -> Detected? {
        let n = min(buffer.readableBytes, http2Preface.count)
        let matches = buffer.withUnsafeReadableBytes { raw in
            (0..<n).allSatisfy { raw[$0] == http2Preface[$0] }
        }
        if !matches { return .http1 }
        return n == http2Preface.count ? .http2 : nil
    }
}
