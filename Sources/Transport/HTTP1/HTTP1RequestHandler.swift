import NIOCore
import NIOHTTP1

/// Collects one HTTP/1.1 request (head + body, bounded), hands it to the `HTTPRequestHandler`,
/// and writes the response. NIOHTTP1's pipelining handler in front of it serialises keep-alive
/// requests, so at most one request is in flight per connection. Event loop only.
final class HTTP1RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: any HTTPRequestHandler
    private let bodyBytesMax: Int
    private let peer: PeerInfo
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false

    init(handler: any HTTPRequestHandler, bodyBytesMax: Int, peer: PeerInfo) {
        self.handler = handler
        self.bodyBytesMax = bodyBytesMax
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = context.channel.allocator.buffer(capacity: 0)
            tooLarge = false
        case .body(var chunk):
            if tooLarge { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > bodyBytesMax {
                tooLarge = true
                body = nil
                return
            }
            body?.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                write(context: context, head: head, response: .text(413, "request body too large\n"))
                return
            }
            var b = body ?? ByteBuffer()
            body = nil
            let (path, query) = HTTPRequest.splitTarget(head.uri)
            let request = HTTPRequest(
                method: head.method.rawValue, path: path, query: query,
                headers: head.headers.map { ($0.name.lowercased(), $0.value) },
                body: b.readBytes(length: b.readableBytes) ?? [], peer: peer)
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            handler.handle(request) { response in
                loop.execute {
                    let (me, ctx) = bound.value
                    me.write(context: ctx, head: head, response: response)
                }
            }
        }
    }

    private func write(context: ChannelHandlerContext, head: HTTPRequestHead, response: HTTPResponse) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        for (n, v) in response.headers { headers.add(name: n, value: v) }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        var responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        if !head.isKeepAlive { responseHead.headers.replaceOrAdd(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if !response.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { bound.value.close(promise: nil) }
        }
    }
}
