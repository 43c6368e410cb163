import NIOCore
import NIOEmbedded
import Testing

@testable import Transport

private typealias Client = NGHTTP2TestClient

@Suite struct HTTP2ServerHandlerTests {
    // MARK: calls

    @Test func aUnaryCallIsAnsweredWithHeadersOneMessageAndOKTrailers() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Unary", messages: [[1, 2, 3]])
        try h.pump()
        let s = h.client[id]
        #expect(s.header(":status") == "200")
        #expect(s.header("content-type") == "application/grpc")
        #expect(s.header("grpc-status") == nil, "headers and trailers are separate frames")
        #expect(Client.messages(s.data) == [[1, 2, 3]])
        #expect(s.trailers.map(\.0) == ["grpc-status"])
        #expect(s.trailer("grpc-status") == "0")
        #expect(s.endStreamReceived && s.closed && s.closeCode == Client.errorNone)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func manyUnaryCallsOnOneConnectionAreEachAnswered() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let ids = (0..<50).map { i in h.client.grpcCall("/test.Echo/Unary", messages: [[UInt8(i)]]) }
        try h.pump()
        for (i, id) in ids.enumerated() {
            #expect(Client.messages(h.client[id].data) == [[UInt8(i)]])
            #expect(h.client[id].grpcStatus == "0")
        }
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func anUnknownMethodOrServiceGetsUnimplementedWithGrpcGosMessages() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let method = h.client.grpcCall("/test.Echo/Nope", messages: [[1]])
        let svc = h.client.grpcCall("/nope.Svc/Get", messages: [[1]])
        let malformed = h.client.grpcCall("/nonsense", messages: [[1]])
        let nested = h.client.grpcCall("/a/b/Get", messages: [[1]])
        // Not a valid :path at all: nghttp2 resets the stream (PROTOCOL_ERROR); the connection lives.
        let invalid = h.client.grpcCall("nonsense", messages: [[1]])
        try h.pump()
        #expect(h.client[invalid].resetCode == 1)
        #expect(h.channel.isActive)
        #expect(h.client[nested].grpcMessage == "unknown service a/b")
        // Trailers-only responses: one HEADERS frame with END_STREAM.
        #expect(h.client[method].header("grpc-status") == "12")
        #expect(h.client[method].header("grpc-message") == "unknown method Nope for service test.Echo")
        #expect(h.client[svc].grpcStatus == "12")
        #expect(h.client[svc].grpcMessage == "unknown service nope.Svc")
        #expect(h.client[malformed].grpcStatus == "12")
        #expect(GRPCStatus.percentDecode(h.client[malformed].grpcMessage ?? "") == "malformed method name: \"/nonsense\"")
        #expect(h.client[method].data.isEmpty)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aMessageOverTheLimitIsRefusedFromItsPrefixWithGrpcGosMessage() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, messageBytesMax: 1000)
        // Only the prefix (announcing 1001 bytes) and no END_STREAM: the answer must not wait.
        let id = h.client.request(Client.grpcHeaders("/test.Echo/Unary"), body: [0, 0, 0, 0x03, 0xe9], endStream: false)
        try h.pump()
        #expect(h.client[id].grpcStatus == "8")
        #expect(GRPCStatus.percentDecode(h.client[id].grpcMessage ?? "") == "grpc: received message larger than max (1001 vs. 1000)")
        #expect(service.unaryCalls.value == 0)
        // The client never half-closed: the server resets the stream (NO_ERROR) after the
        // trailers, as grpc-go does, so it is freed on both sides.
        #expect(h.client[id].closed)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aCompressedMessageIsRefusedAsGrpcGoRefusesIt() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let plain = h.client.request(Client.grpcHeaders("/test.Echo/Unary"), body: Client.frame([1], compressed: true))
        let gzip = h.client.request(Client.grpcHeaders("/test.Echo/Unary", extra: [("grpc-encoding", "gzip")]),
                                    body: Client.frame([1], compressed: true))
        try h.pump()
        #expect(h.client[plain].grpcStatus == "13")
        #expect(GRPCStatus.percentDecode(h.client[plain].grpcMessage ?? "") == "grpc: compressed flag set with identity or empty encoding")
        #expect(h.client[gzip].grpcStatus == "12")
        #expect(GRPCStatus.percentDecode(h.client[gzip].grpcMessage ?? "") == "grpc: Decompressor is not installed for grpc-encoding \"gzip\"")
    }

    @Test func aTruncatedMessageFailsTheCallWhenTheClientHalfCloses() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        // The prefix announces 100 bytes; 10 arrive, then END_STREAM.
        let id = h.client.request(Client.grpcHeaders("/test.Echo/Unary"), body: [0, 0, 0, 0, 100] + Array(repeating: 1, count: 10))
        try h.pump()
        #expect(h.client[id].grpcStatus == "13")
        #expect(service.unaryCalls.value == 0)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aUnaryCallWithoutAMessageOrWithTwoFails() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let none = h.client.request(Client.grpcHeaders("/test.Echo/Unary"))
        let two = h.client.grpcCall("/test.Echo/Unary", messages: [[1], [2]])
        try h.pump()
        #expect(h.client[none].grpcStatus == "13")
        #expect(h.client[two].grpcStatus == "13")
        #expect(service.unaryCalls.value == 0)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aBidirectionalStreamCarriesSeveralMessagesEachWay() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Bidi", messages: [[1]], endStream: false)
        try h.pump()
        #expect(Client.messages(h.client[id].data) == [[1]])
        #expect(h.client[id].header(":status") == "200")
        h.client.send(id, Client.frame([2, 2]) + Client.frame([3, 3, 3]))
        try h.pump()
        #expect(Client.messages(h.client[id].data) == [[1], [2, 2], [3, 3, 3]])
        #expect(!h.client[id].endStreamReceived)
        h.client.send(id, Client.frame([4]), endStream: true)
        try h.pump()
        #expect(Client.messages(h.client[id].data) == [[1], [2, 2], [3, 3, 3], [4]])
        #expect(h.client[id].grpcStatus == "0")
        #expect(h.client[id].closed)
        let observer = try #require(service.observers.value.first)
        #expect(observer.events == [.received([1]), .received([2, 2]), .received([3, 3, 3]), .received([4]), .end])
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aServerStreamThatFinishesBeforeTheClientHalfClosesIsResetAfterItsTrailers() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false)
        try h.pump()
        let observer = try #require(service.observers.value.first)
        observer.stream.send([9, 9])
        observer.stream.finish(GRPCStatus(.outOfRange, "etcdserver: mvcc: required revision has been compacted"))
        try h.pump()
        let s = h.client[id]
        #expect(Client.messages(s.data) == [[9, 9]])
        #expect(s.grpcStatus == "11")
        #expect(s.endStreamReceived, "the trailers arrived with END_STREAM")
        #expect(s.closed)
        // The RST_STREAM(NO_ERROR) came after the trailers, never before.
        let frames = h.client.framesReceived.filter { $0.streamID == id }
        let trailerIndex = try #require(frames.lastIndex { $0.type == Client.frameHeaders && $0.endsStream })
        let resetIndex = try #require(frames.firstIndex { $0.type == Client.frameRSTStream })
        #expect(trailerIndex < resetIndex)
        #expect(frames[resetIndex].errorCode == Client.errorNone)
        #expect(h.handler.openStreamCount == 0)
        #expect(!observer.events.contains(.cancelled), "a call the server finished is never cancelled")
    }

    @Test func finishedButNotHalfClosedStreamsDoNotUseUpMaxConcurrentStreams() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, maxConcurrentStreams: 2)
        for round in 0..<5 {
            let id = h.client.grpcCall("/test.Echo/Listen", messages: [[UInt8(round)]], endStream: false)
            try h.pump()
            let observer = try #require(service.observers.value.last)
            observer.stream.finish(.ok)
            try h.pump()
            #expect(h.client[id].grpcStatus == "0")
            #expect(h.client[id].closed)
        }
        #expect(service.observers.value.count == 5)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func maxConcurrentStreamsIsAnnouncedAndHonoured() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, maxConcurrentStreams: 2)
        try h.pump()  // SETTINGS exchanged, as grpc-go waits for before its first call
        let ids = (0..<3).map { i in h.client.grpcCall("/test.Echo/Hold", messages: [[UInt8(i)]]) }
        try h.pump()
        // nghttp2's client queues the third request until a stream closes.
        #expect(service.unaryCalls.value == 2)
        service.held.value[0].respond([0])
        try h.pump()
        #expect(service.unaryCalls.value == 3)
        for r in service.held.value.dropFirst() { r.respond([1]) }
        try h.pump()
        for id in ids { #expect(h.client[id].grpcStatus == "0") }
    }

    @Test func anAuthorityWithASchemeAsEtcdsGoClientsSendItIsServed() throws {
        // clientv3 3.4 dials maintenance calls as passthrough:///http://host:port, and grpc-go
        // puts all of "http://host:port" into :authority.
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        for authority in ["http://127.0.0.1:2379", "https://[::1]:2379", "unix://sock"] {
            let id = h.client.request(Client.grpcHeaders("/test.Echo/Unary").map { $0.0 == ":authority" ? ($0.0, authority) : $0 },
                                      body: Client.frame([7]))
            try h.pump()
            #expect(h.client[id].grpcStatus == "0", "\(authority)")
            #expect(Client.messages(h.client[id].data) == [[7]])
        }
    }

    @Test(arguments: MalformedRequest.all)
    func aMalformedRequestIsResetWithProtocolErrorAndTheConnectionLives(_ request: MalformedRequest) throws {
        let (what, headers) = (request.what, request.headers)
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + RawFrames.settings()
        bytes += RawFrames.frame(type: 1, flags: 0x4, streamID: 1, payload: RawFrames.headerBlock(headers))
        bytes += RawFrames.data(streamID: 1, Client.frame([1]), endStream: true)
        bytes += RawFrames.grpcHeaders(streamID: 3, path: "/test.Echo/Unary", endStream: false)
        bytes += RawFrames.data(streamID: 3, Client.frame([9]), endStream: true)
        try h.inject(bytes)
        let frames = RawFrames.parse(h.drainRaw())
        #expect(frames.contains { $0.type == 3 && $0.streamID == 1 && $0.errorCode == 1 }, "\(what): RST_STREAM PROTOCOL_ERROR")
        #expect(frames.contains { $0.type == 1 && $0.streamID == 3 }, "\(what): the next call is answered")
        #expect(!frames.contains { $0.type == 7 }, "\(what): no GOAWAY")
        #expect(h.channel.isActive)
    }

    @Test func requestTrailersAreNotMetadataAndMayNotCarryPseudoHeaders() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + RawFrames.settings()
        bytes += RawFrames.grpcHeaders(streamID: 1, path: "/test.Echo/Unary", endStream: false)
        bytes += RawFrames.data(streamID: 1, Client.frame([1]), endStream: false)
        bytes += RawFrames.frame(type: 1, flags: 0x5, streamID: 1, payload: RawFrames.headerBlock([(":path", "/x")]))
        try h.inject(bytes)
        let frames = RawFrames.parse(h.drainRaw())
        #expect(frames.contains { $0.type == 3 && $0.streamID == 1 && $0.errorCode == 1 })
    }

    @Test func streamsBeyondMaxConcurrentStreamsAreRefusedNotServed() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, maxConcurrentStreams: 1)
        // Raw frames from a client that ignores the limit, before it could have seen SETTINGS.
        var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + RawFrames.settings()
        bytes += RawFrames.grpcHeaders(streamID: 1, path: "/test.Echo/Hold", endStream: false)
        bytes += RawFrames.grpcHeaders(streamID: 3, path: "/test.Echo/Hold", endStream: false)
        try h.inject(bytes)
        let frames = RawFrames.parse(h.drainRaw())
        #expect(frames.contains { $0.type == 3 && $0.streamID == 3 && $0.errorCode == Client.errorRefusedStream })
        #expect(h.handler.openStreamCount == 1)
    }

    // MARK: cancellation and deadlines

    @Test func aStreamResetByTheClientMidCallIsSeenAsCancelled() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let unary = h.client.grpcCall("/test.Echo/Hold", messages: [[1]])
        let streaming = h.client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false)
        try h.pump()
        let responder = try #require(service.held.value.first)
        let observer = try #require(service.observers.value.first)
        #expect(!responder.isCancelled)
        #expect(!observer.stream.isCancelled)
        h.client.reset(unary)
        h.client.reset(streaming)
        try h.pump()
        #expect(responder.isCancelled)
        #expect(observer.stream.isCancelled)
        // What callers on other threads read is set too.
        #expect((responder as? HTTP2CallHandle)?.state.isCancelled == true)
        #expect((observer.stream as? HTTP2CallHandle)?.state.isCancelled == true)
        #expect(observer.events == [.received([1]), .cancelled])
        // Answers after the cancellation go nowhere and break nothing.
        responder.respond([7])
        observer.stream.send([7])
        observer.stream.finish(.ok)
        try h.pump()
        #expect(h.client[unary].data.isEmpty)
        #expect(h.handler.openStreamCount == 0)
        #expect(h.channel.isActive)
    }

    @Test func closingTheConnectionCancelsEveryOpenCallExactlyOnce() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        for i in 0..<3 { h.client.grpcCall("/test.Echo/Listen", messages: [[UInt8(i)]], endStream: false) }
        h.client.grpcCall("/test.Echo/Hold", messages: [[1]])
        try h.pump()
        let observers = service.observers.value
        #expect(observers.count == 3)
        // A handler that answers from inside cancelled() must not re-enter nghttp2 or crash.
        observers[0].onCancelled = { observers[0].stream.finish(.ok) }
        try h.channel.close().wait()
        for o in observers { #expect(o.events.filter { $0 == .cancelled }.count == 1) }
        #expect(service.held.value.first?.isCancelled == true)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aResetInsideTheSameReadAsTheRequestNeverReachesAClosedObserver() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false)
        h.client.reset(id)
        try h.pump()
        // Either the call never started or it started and was cancelled; never a message after cancel.
        for o in service.observers.value {
            #expect(o.events.last == .cancelled || o.events.isEmpty)
        }
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func theGrpcTimeoutEndsTheCallWithDeadlineExceeded() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let unary = h.client.grpcCall("/test.Echo/Hold", messages: [[1]], timeout: "100m")
        let streaming = h.client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false, timeout: "1S")
        try h.pump()
        let responder = try #require(service.held.value.first)
        let context = try #require(service.heldContexts.value.first)
        #expect(context.deadline != nil)
        h.channel.embeddedEventLoop.advanceTime(by: .milliseconds(99))
        try h.pump()
        #expect(h.client[unary].grpcStatus == nil)
        h.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        try h.pump()
        #expect(h.client[unary].grpcStatus == "4")
        #expect(h.client[unary].grpcMessage == "context deadline exceeded")
        #expect(responder.isCancelled)
        responder.respond([2])
        #expect(h.client[streaming].grpcStatus == nil)
        h.channel.embeddedEventLoop.advanceTime(by: .milliseconds(900))
        try h.pump()
        #expect(h.client[streaming].grpcStatus == "4")
        #expect(service.observers.value.first?.events.last == .cancelled)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aMalformedGrpcTimeoutIsRefusedAsGrpcGoRefusesIt() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Unary", messages: [[1]], timeout: "1x")
        try h.pump()
        #expect(h.client[id].grpcStatus == "13")
        #expect(GRPCStatus.percentDecode(h.client[id].grpcMessage ?? "").hasPrefix("malformed grpc-timeout"))
        #expect(service.unaryCalls.value == 0)
    }

    // MARK: plain HTTP over HTTP/2

    @Test func aPlainHTTP2GetReachesTheHTTPHandler() throws {
        let service = TestService()
        let http = RecordingHTTPHandler()
        let h = try ServerHarness(router: service.router, http: http)
        let id = h.client.request([(":method", "GET"), (":scheme", "http"), (":path", "/health?serializable=true"),
                                   (":authority", "localhost"), ("accept", "*/*")])
        try h.pump()
        let request = try #require(http.requests.value.first)
        #expect(request.method == "GET")
        #expect(request.path == "/health")
        #expect(request.queryValue("serializable") == "true")
        #expect(request.header("accept") == "*/*")
        #expect(h.client[id].header(":status") == "200")
        #expect(h.client[id].header("content-length") == "\(h.client[id].data.count)")
        #expect(String(decoding: h.client[id].data, as: UTF8.self) == "hello /health?serializable=true\n")
        #expect(h.client[id].closed)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func aTooLargeHTTPBodyGetsAnHTTPErrorNotAGrpcStatus() throws {
        let service = TestService()
        let http = RecordingHTTPHandler()
        let h = try ServerHarness(router: service.router, http: http)
        let id = h.client.request([(":method", "POST"), (":scheme", "http"), (":path", "/v3/kv/put"),
                                   (":authority", "localhost"), ("content-type", "application/json")],
                                  body: Array(repeating: 0x41, count: 100 * 1024))
        try h.pump()
        #expect(h.client[id].header(":status") == "413")
        #expect(h.client[id].header("grpc-status") == nil)
        #expect(http.requests.value.isEmpty)
        #expect(h.client[id].closed)
        #expect(h.handler.openStreamCount == 0)
    }

    // MARK: flow control and back-pressure

    @Test func aLargeResponseIsSentOnlyAsTheClientOpensItsWindow() throws {
        let service = TestService()
        let client = Client(manualWindowUpdates: true)
        let h = try ServerHarness(router: service.router, client: client)
        let id = client.grpcCall("/test.Echo/Big", messages: [[]])
        try h.pump()
        // Nothing consumed yet: the server may fill the initial 65535-byte windows, no more.
        #expect(client.dataBytesReceived == 65_535)
        #expect(client[id].grpcStatus == nil)
        var rounds = 0
        while !client[id].endStreamReceived {
            rounds += 1
            let unread = client.dataBytesReceived - client.dataBytesConsumed
            #expect(unread <= 65_535, "the server sent more than the client's window allowed")
            client.consume(id, unread)
            try h.pump()
            #expect(client.receiveError == nil)
            if rounds > 10_000 { Issue.record("response never completed"); break }
        }
        let expected = (0..<TestService.bigResponseBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(Client.messages(client[id].data) == [expected])
        #expect(client[id].grpcStatus == "0")
        #expect(rounds > 100)
        #expect(h.handler.openStreamCount == 0)
    }

    @Test func pendingOutboundBytesFallAsHTTP2TakesTheBytes() throws {
        let service = TestService()
        let client = Client(manualWindowUpdates: true)
        let h = try ServerHarness(router: service.router, client: client)
        let id = client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false)
        try h.pump()
        let observer = try #require(service.observers.value.first)
        let state = try #require((observer.stream as? HTTP2CallHandle)?.state)
        for _ in 0..<10 { observer.stream.send(Array(repeating: 1, count: 20_000)) }
        try h.pump()
        // The client's 65535-byte window let part of it go; the rest waits, counted.
        #expect(observer.stream.pendingOutboundBytes == 10 * 20_005 - client.dataBytesReceived)
        #expect(state.pending == observer.stream.pendingOutboundBytes)
        while !client[id].data.isEmpty && client.dataBytesReceived < 10 * 20_005 {
            client.consume(id, client.dataBytesReceived - client.dataBytesConsumed)
            try h.pump()
        }
        #expect(observer.stream.pendingOutboundBytes == 0)
        #expect(state.pending == 0)
        #expect(!state.isCancelled)
    }

    @Test func whileTheChannelIsNotWritableNoFramesArePulled() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        let id = h.client.grpcCall("/test.Echo/Hold", messages: [[1]])
        try h.pump()
        h.channel.isWritable = false
        h.channel.pipeline.fireChannelWritabilityChanged()
        service.held.value[0].respond([5, 5])
        h.channel.embeddedEventLoop.run()
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == nil)
        h.client.ping()
        try h.inject(h.client.produce())
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == nil, "not even a PING ACK")
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        try h.pump()
        #expect(Client.messages(h.client[id].data) == [[5, 5]])
        #expect(h.client[id].grpcStatus == "0")
    }

    @Test func whileTheChannelIsNotWritableReadsGoOnUntilTooMuchIsQueued() throws {
        let service = TestService()
        let client = Client(manualWindowUpdates: true)
        let h = try ServerHarness(router: service.router, client: client)
        let reads = ReadCounter()
        try h.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        _ = client.grpcCall("/test.Echo/Listen", messages: [[1]], endStream: false)
        try h.pump()
        let observer = try #require(service.observers.value.first)
        let before = reads.count
        h.channel.isWritable = false
        h.channel.pipeline.fireChannelWritabilityChanged()
        // Little queued: reads go on, so the peer's WINDOW_UPDATEs and PINGs still arrive.
        h.channel.read()
        #expect(reads.count == before + 1)
        // A peer that never reads its answers: past the bound, no more input is taken.
        let chunk = [UInt8](repeating: 7, count: 1 << 20)
        for _ in 0..<(HTTP2ServerHandler.outboundBytesMaxWhileUnwritable >> 20) { observer.stream.send(chunk) }
        h.channel.embeddedEventLoop.run()
        h.channel.read()
        #expect(reads.count == before + 1, "held while 32 MiB wait for an unwritable peer")
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        #expect(reads.count == before + 2, "the held read goes out once writable again")
    }

    @Test func bufferedRequestBytesPerConnectionStayWithinTheBudget() throws {
        let service = TestService()
        let client = Client()
        let h = try ServerHarness(router: service.router, messageBytesMax: 2 << 20, client: client)
        try h.pump()
        let budget = h.handler.requestBytesBufferedMax
        // 300 calls each announce a 1 MiB message and send 100 KiB of it, never the rest.
        let partial = [0, 0, 0x10, 0, 0] + Array(repeating: UInt8(7), count: 100 * 1024)
        var ids: [Int32] = []
        for _ in 0..<300 {
            ids.append(client.request(Client.grpcHeaders("/test.Echo/Unary"), body: partial, endStream: false))
            try h.pump()
            #expect(h.handler.bufferedRequestBytes <= budget)
            #expect(h.handler.admittedBytes <= h.handler.admissionBytesMax)
        }
        #expect(h.handler.bufferedRequestBytes > budget / 2, "the budget is used, not starved")
        // When the window filled with calls that could not complete, the newest were failed.
        let exhausted = ids.filter { client[$0].grpcStatus == "8" }
        #expect(!exhausted.isEmpty)
        #expect(exhausted.allSatisfy { $0 > ids[8] }, "the oldest (admitted) calls were spared")
        // The connection still serves calls.
        let ok = client.grpcCall("/test.Echo/Unary", messages: [[42]])
        try h.pump()
        #expect(Client.messages(client[ok].data) == [[42]])
        #expect(h.channel.isActive)
    }

    @Test func aMessageLargerThanTheStreamWindowStillArrives() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, messageBytesMax: 3 << 20)
        let big = (0..<(2 << 20) + 17).map { UInt8(truncatingIfNeeded: $0) }
        let id = h.client.grpcCall("/test.Echo/Unary", messages: [big])
        try h.pump()
        #expect(h.client[id].grpcStatus == "0")
        #expect(Client.messages(h.client[id].data) == [big])
        #expect(h.handler.bufferedRequestBytes == 0)
        #expect(h.handler.admittedBytes == 0)
    }

    @Test func manyConcurrentLargeUploadsAllCompleteAFewAtATime() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router, messageBytesMax: 2 << 20)
        try h.pump()
        // 36 MiB offered at once against a 16 MiB budget: admitted a few at a time, none failed.
        let big = Array(repeating: UInt8(3), count: (3 << 19))  // 1.5 MiB, etcd's --max-request-bytes
        let ids = (0..<24).map { _ in h.client.grpcCall("/test.Echo/Unary", messages: [big]) }
        try h.pump()
        for id in ids {
            #expect(h.client[id].grpcStatus == "0")
            #expect(Client.messages(h.client[id].data).first?.count == big.count)
        }
        #expect(h.handler.bufferedRequestBytes == 0)
        #expect(h.handler.admittedBytes == 0)
    }

    @Test func manyMediumMessagesOnOneStreamAllArrive() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        // Messages a little under the stream window: each needs the window reopened in time.
        let id = h.client.grpcCall("/test.Echo/Bidi", messages: [], endStream: false)
        try h.pump()
        var sent: [[UInt8]] = []
        for i in 0..<40 {
            let m = Array(repeating: UInt8(i), count: 40_000 + i * 500)
            sent.append(m)
            h.client.send(id, Client.frame(m))
            try h.pump()
        }
        h.client.send(id, [], endStream: true)
        try h.pump()
        #expect(Client.messages(h.client[id].data) == sent)
        #expect(h.client[id].grpcStatus == "0")
        #expect(h.handler.bufferedRequestBytes == 0)
    }

    // MARK: bad input

    @Test func garbageAfterThePrefaceClosesTheConnectionWithGoAway() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        try h.inject(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Array(repeating: 0xff, count: 64))
        let frames = RawFrames.parse(h.drainRaw())
        #expect(frames.contains { $0.type == 7 })
        #expect(!h.channel.isActive)
    }

    @Test func aMissingPrefaceClosesTheConnection() throws {
        let service = TestService()
        let h = try ServerHarness(router: service.router)
        try h.inject(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        _ = h.drainRaw()
        #expect(!h.channel.isActive)
    }
}

extension ServerHarness {
    /// Everything the server wrote, as raw bytes (for tests that speak raw frames).
    func drainRaw() -> [UInt8] {
        var out: [UInt8] = []
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
            out += buffer.readableBytesView
        }
        return out
    }
}

/// Counts `read` requests that reach the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var count = 0
    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

/// Hand-made HTTP/2 frames for clients that break the rules on purpose.
enum RawFrames {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var streamID: Int32
        var payload: [UInt8]
        var errorCode: UInt32? {
            if type == 3 && payload.count == 4 { return UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3]) }
            if type == 7 && payload.count >= 8 { return UInt32(payload[4]) << 24 | UInt32(payload[5]) << 16 | UInt32(payload[6]) << 8 | UInt32(payload[7]) }
            return nil
        }
    }

    static func frame(type: UInt8, flags: UInt8, streamID: Int32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        let id = UInt32(streamID)
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(id >> 24 & 0x7f), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)] + payload
    }

    static func settings() -> [UInt8] { frame(type: 4, flags: 0, streamID: 0, payload: []) }

    /// HPACK with literal header fields without indexing (new names), no Huffman.
    static func headerBlock(_ headers: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in headers {
            out.append(0x00)
            out += length(name.utf8.count) + Array(name.utf8)
            out += length(value.utf8.count) + Array(value.utf8)
        }
        return out
    }

    private static func length(_ n: Int) -> [UInt8] {
        if n < 127 { return [UInt8(n)] }
        var rest = n - 127
        var out: [UInt8] = [127]
        while rest >= 128 {
            out.append(UInt8(rest & 0x7f | 0x80))
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }

    static func grpcHeaders(streamID: Int32, path: String, endStream: Bool) -> [UInt8] {
        let block = headerBlock([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x"),
                                 ("content-type", "application/grpc"), ("te", "trailers")])
        return frame(type: 1, flags: 0x4 | (endStream ? 0x1 : 0), streamID: streamID, payload: block)
    }

    static func data(streamID: Int32, _ payload: [UInt8], endStream: Bool) -> [UInt8] {
        frame(type: 0, flags: endStream ? 1 : 0, streamID: streamID, payload: payload)
    }

    static func parse(_ bytes: [UInt8]) -> [Frame] {
        var out: [Frame] = []
        var i = 0
        while i + 9 <= bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + n <= bytes.count else { break }
            let id = Int32(bytes[i + 5] & 0x7f) << 24 | Int32(bytes[i + 6]) << 16 | Int32(bytes[i + 7]) << 8 | Int32(bytes[i + 8])
            out.append(Frame(type: bytes[i + 3], flags: bytes[i + 4], streamID: id, payload: Array(bytes[(i + 9)..<(i + 9 + n)])))
            i += 9 + n
        }
        return out
    }
}

/// A request header block HTTP/2 calls malformed (RFC 9113 §8.2–8.3).
struct MalformedRequest: Sendable, CustomTestStringConvertible {
    let what: String
    let headers: [(String, String)]
    init(_ what: String, _ headers: [(String, String)]) {
        self.what = what
        self.headers = headers
    }
    var testDescription: String { what }

    static let all: [MalformedRequest] = [
        MalformedRequest("no :path", [(":method", "POST"), (":scheme", "http"), (":authority", "x"), ("content-type", "application/grpc")]),
        MalformedRequest("no :method", [(":scheme", "http"), (":path", "/test.Echo/Unary"), ("content-type", "application/grpc")]),
        MalformedRequest("no :scheme", [(":method", "POST"), (":path", "/test.Echo/Unary"), ("content-type", "application/grpc")]),
        MalformedRequest("pseudo after regular", [(":method", "POST"), (":scheme", "http"), ("content-type", "application/grpc"), (":path", "/test.Echo/Unary")]),
        MalformedRequest("duplicate pseudo", [(":method", "POST"), (":method", "GET"), (":scheme", "http"), (":path", "/test.Echo/Unary")]),
        MalformedRequest("unknown pseudo", [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Unary"), (":status", "200")]),
        MalformedRequest("upper-case name", [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Unary"), ("Content-Type", "application/grpc")]),
        MalformedRequest("connection-specific", [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Unary"), ("connection", "keep-alive")]),
        MalformedRequest("te other than trailers", [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Unary"), ("te", "gzip")]),
        MalformedRequest("newline in a value", [(":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Unary"), ("x-a", "1\r\nx-b: 2")]),
        MalformedRequest("relative :path", [(":method", "POST"), (":scheme", "http"), (":path", "test.Echo/Unary"), ("content-type", "application/grpc")]),
    ]
}
