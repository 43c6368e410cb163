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
    private var state = State.sniffing(nil)
    private var tls: TLSHandshakeCompleted?

    /// Event loop only. `installing` exists because installing handlers can re-enter
    /// `channelRead`: the new HTTP/2 handler flushes its SETTINGS at once, and a peer that has
    /// already reset the connection makes that flush fail and the channel close underneath us;
    /// bytes that arrive then are held and delivered after the first ones, in order.
    private enum State {
        /// The first bytes, while they are still a prefix of the HTTP/2 preface.
        case sniffing(ByteBuffer?)
        /// Handlers being installed; what to deliver to them once they are.
        case installing(ByteBuffer)
        /// Handed over (or the channel is gone): anything still reaching this handler passes through.
        case done
    }

    init(install: @escaping Installer) {
        self.install = install
    }

    /// Gone (possibly while handlers were being installed): nothing more is delivered.
    func channelInactive(context: ChannelHandlerContext) {
        state = .done
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted { tls = done }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        switch state {
        case .done:
            context.fireChannelRead(data)
        case .installing(var held):
            held.writeBuffer(&incoming)
            state = .installing(held)
        case .sniffing(let seen):
            var buffer = seen ?? incoming
            if seen != nil { buffer.writeBuffer(&incoming) }
            guard let decision = Self.detect(buffer) else {
                state = .sniffing(buffer)
                return
            }
            state = .installing(buffer)
            do {
                try install(context, decision, tls)
            } catch {
                state = .done
                context.close(promise: nil)
                return
            }
            // Not installing any more: the channel closed meanwhile, nobody is left to read.
            guard case .installing(let bytes) = state else { return }
            state = .done
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
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
