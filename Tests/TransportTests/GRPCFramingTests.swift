import Synchronization
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import Transport

/// Runs `GRPCMessageDeframer` as a `ByteToMessageDecoder`, so NIO's verifier can feed it byte by
/// byte, all at once, and in every split it tries.
private struct DeframerDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]
    var deframer: GRPCMessageDeframer

    init(limit: Int) { deframer = GRPCMessageDeframer(messageBytesMax: limit) }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 {
            deframer.append(buffer)
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        while let message = try deframer.next() {
            context.fireChannelRead(wrapInboundOut(message))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

private func framed(_ messages: [[UInt8]]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for m in messages { GRPCMessageFramer.frame(m, into: &buffer) }
    return buffer
}

@Suite struct GRPCMessageDeframerTests {
    @Test func messagesComeOutWholeWhetherFedByteByByteOrAllAtOnce() throws {
        let cases: [[[UInt8]]] = [
            [[1, 2, 3]],
            [[]],
            [[], [0xff], Array(repeating: 7, count: 300)],
            [Array(0..<200).map(UInt8.init), [9, 9], []],
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: cases.map { (framed($0), $0) },
            decoderFactory: { DeframerDecoder(limit: 1024) })
    }

    @Test func severalMessagesInOneChunkAreReturnedInOrder() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 100)
        deframer.append(framed([[1], [2, 2], [], [3, 3, 3]]))
        var out: [[UInt8]] = []
        while let m = try deframer.next() { out.append(m) }
        #expect(out == [[1], [2, 2], [], [3, 3, 3]])
        #expect(deframer.bufferedBytes == 0)
        #expect(!deframer.hasPartialMessage)
    }

    @Test func aPartialMessageWaitsForTheRestOfItsBytes() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 100)
        let bytes = Array(framed([[1, 2, 3, 4]]).readableBytesView)
        bytes[0..<7].withUnsafeBytes { deframer.append($0) }
        #expect(try deframer.next() == nil)
        #expect(deframer.hasPartialMessage)
        #expect(deframer.bufferedBytes == 7)
        bytes[7...].withUnsafeBytes { deframer.append($0) }
        #expect(try deframer.next() == [1, 2, 3, 4])
        #expect(try deframer.next() == nil)
    }

    @Test func aMessageAtTheLimitIsAccepted() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 16)
        deframer.append(framed([Array(repeating: 1, count: 16)]))
        #expect(try deframer.next()?.count == 16)
    }

    @Test func theLimitIsCheckedFromThePrefixBeforeAnyBodyByteArrives() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 16)
        // Only the 5-byte prefix announcing 4 GiB - 1: refused at once, nothing else buffered.
        ([0, 0xff, 0xff, 0xff, 0xff] as [UInt8]).withUnsafeBytes { deframer.append($0) }
        #expect(throws: GRPCMessageDeframer.Failure.messageTooLarge(length: 0xffff_ffff, limit: 16)) { try deframer.next() }
        var other = GRPCMessageDeframer(messageBytesMax: 16)
        ([0, 0, 0, 0, 17] as [UInt8]).withUnsafeBytes { other.append($0) }
        #expect(throws: GRPCMessageDeframer.Failure.messageTooLarge(length: 17, limit: 16)) { try other.next() }
    }

    @Test func theCompressedFlagIsRejected() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 16)
        ([1, 0, 0, 0, 1, 42] as [UInt8]).withUnsafeBytes { deframer.append($0) }
        #expect(throws: GRPCMessageDeframer.Failure.compressedMessage) { try deframer.next() }
        var other = GRPCMessageDeframer(messageBytesMax: 16)
        ([0x80, 0, 0, 0, 0] as [UInt8]).withUnsafeBytes { other.append($0) }
        #expect(throws: GRPCMessageDeframer.Failure.compressedMessage) { try other.next() }
    }

    @Test func aLongStreamOfSmallMessagesDoesNotGrowTheBuffer() throws {
        var deframer = GRPCMessageDeframer(messageBytesMax: 1024)
        let chunk = framed(Array(repeating: Array(repeating: 5, count: 100), count: 10))
        for _ in 0..<1000 {
            deframer.append(chunk)
            var n = 0
            while try deframer.next() != nil { n += 1 }
            #expect(n == 10)
        }
        #expect(deframer.bufferedBytes == 0)
    }
}

@Suite struct GRPCStatusTests {
    @Test func printableASCIIIsSentAsIs() {
        let message = "etcdserver: mvcc: required revision has been compacted"
        #expect(GRPCStatus.percentEncode(message) == message)
        #expect(GRPCStatus.percentEncode(" ~") == " ~")
    }

    @Test func percentControlCharactersAndNonASCIIAreEncodedAsGrpcGoDoes() {
        // grpc-go encodeGrpcMessage: bytes outside ' '...'~' and '%' become %XX, upper-case hex.
        #expect(GRPCStatus.percentEncode("100%") == "100%25")
        #expect(GRPCStatus.percentEncode("a\nb\tc") == "a%0Ab%09c")
        #expect(GRPCStatus.percentEncode("\u{7f}") == "%7F")
        #expect(GRPCStatus.percentEncode("é") == "%C3%A9")
        #expect(GRPCStatus.percentEncode("日本") == "%E6%97%A5%E6%9C%AC")
        #expect(GRPCStatus.percentEncode("") == "")
    }

    @Test func encodingRoundTrips() {
        let samples = ["", "plain", "100% sure", "%%%", "line\r\nbreak", "ünïcödé ✓ 🚀", "\u{0}\u{1}\u{1f}", "%2", "a%zz"]
        for s in samples {
            #expect(GRPCStatus.percentDecode(GRPCStatus.percentEncode(s)) == s, "\(s)")
        }
        for byte in UInt8(0)...UInt8(127) {
            let s = String(decoding: [byte], as: UTF8.self)
            #expect(GRPCStatus.percentDecode(GRPCStatus.percentEncode(s)) == s)
        }
    }

    @Test func malformedEscapesAreKeptLiterallyAsGrpcGoDoes() {
        #expect(GRPCStatus.percentDecode("%") == "%")
        #expect(GRPCStatus.percentDecode("%4") == "%4")
        #expect(GRPCStatus.percentDecode("%zz") == "%zz")
        #expect(GRPCStatus.percentDecode("%4g1") == "%4g1")
        #expect(GRPCStatus.percentDecode("%41") == "A")
        #expect(GRPCStatus.percentDecode("%e2%9c%93") == "✓")
        #expect(GRPCStatus.percentDecode("a%41%") == "aA%")
    }

    @Test func statusCodesMatchTheGRPCTable() {
        #expect(GRPCStatusCode.allCases.count == 17)
        #expect(GRPCStatusCode.cancelled.rawValue == 1)
        #expect(GRPCStatusCode.resourceExhausted.rawValue == 8)
        #expect(GRPCStatusCode.unimplemented.rawValue == 12)
        #expect(GRPCStatusCode.unauthenticated.rawValue == 16)
    }
}

@Suite struct GRPCTimeoutTests {
    @Test func everyUnitParses() {
        #expect(GRPCTimeout.parse("2H") == .hours(2))
        #expect(GRPCTimeout.parse("3M") == .minutes(3))
        #expect(GRPCTimeout.parse("10S") == .seconds(10))
        #expect(GRPCTimeout.parse("250m") == .milliseconds(250))
        #expect(GRPCTimeout.parse("7u") == .microseconds(7))
        #expect(GRPCTimeout.parse("99999999n") == .nanoseconds(99_999_999))
        #expect(GRPCTimeout.parse("0S") == .seconds(0))
        #expect(GRPCTimeout.parse("00000001m") == .milliseconds(1))
    }

    @Test func theLargestValuesSaturateInsteadOfOverflowing() {
        #expect(GRPCTimeout.parse("99999999H") == TimeAmount.nanoseconds(.max))
        #expect(GRPCTimeout.parse("99999999M") == .minutes(99_999_999))
    }

    @Test func malformedValuesAreRejected() {
        for bad in ["", "S", "1", "10", "123456789S", "1s", "1h", "1x", "-1S", "+1S", " 1S", "1 S", "1.5S", "１S", "SS", "1SS"] {
            #expect(GRPCTimeout.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct ListenURLTests {
    @Test func etcdsAcceptedFormsParse() throws {
        #expect(try ListenURL(parsing: "http://127.0.0.1:2379") == ListenURL(scheme: .http, host: "127.0.0.1", port: 2379))
        #expect(try ListenURL(parsing: "https://10.0.0.1:2380") == ListenURL(scheme: .https, host: "10.0.0.1", port: 2380))
        #expect(try ListenURL(parsing: "http://localhost:0") == ListenURL(scheme: .http, host: "localhost", port: 0))
        #expect(try ListenURL(parsing: "http://[::1]:2379") == ListenURL(scheme: .http, host: "::1", port: 2379))
        #expect(try ListenURL(parsing: "http://:2379") == ListenURL(scheme: .http, host: "", port: 2379))
        #expect(try ListenURL(parsing: "HTTP://127.0.0.1:1") == ListenURL(scheme: .http, host: "127.0.0.1", port: 1))
        #expect(try ListenURL(parsing: "unix:///tmp/etcd.sock") == ListenURL(scheme: .unix, host: "", port: 0, path: "/tmp/etcd.sock"))
        #expect(try ListenURL(parsing: "unixs://localhost:1234") == ListenURL(scheme: .unixs, host: "", port: 0, path: "localhost:1234"))
        #expect(try ListenURL(parsing: " http://127.0.0.1:2379 ").port == 2379)
    }

    @Test func derivedPropertiesFollowTheScheme() throws {
        #expect(try ListenURL(parsing: "https://127.0.0.1:1").isTLS)
        #expect(try ListenURL(parsing: "unixs://x").isTLS)
        #expect(try !ListenURL(parsing: "http://127.0.0.1:1").isTLS)
        #expect(try ListenURL(parsing: "unix://x").isUnix)
        #expect(try ListenURL(parsing: "http://localhost:1").bindHost == "127.0.0.1")
        #expect(try ListenURL(parsing: "http://:1").bindHost == "0.0.0.0")
        #expect(try ListenURL(parsing: "http://[::1]:2379").description == "http://[::1]:2379")
        #expect(try ListenURL(parsing: "unix:///a/b").description == "unix:///a/b")
    }

    @Test func etcdsRejectedFormsThrow() {
        let bad = [
            "127.0.0.1:2379",             // no scheme
            "tcp://127.0.0.1:2379",        // unknown scheme
            "ftp://host:21",
            "http://127.0.0.1",            // no port
            "http://127.0.0.1:2379/path",  // a path
            "http://127.0.0.1:2379/",      // etcd: "URL must not contain a path" (url.Path is "/")
            "http://127.0.0.1:port",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:-1",
            "http://::1:2379",             // IPv6 without brackets: "too many colons"
            "http://[::1:2379",
            "http://[::1]2379",
            "unix://",
            "",
        ]
        for text in bad {
            #expect(throws: ListenURL.ParseError.self, "\(text)") { try ListenURL(parsing: text) }
        }
    }

    @Test func errorsNameTheURLAndSayWhatIsWrongInEtcdsWords() {
        #expect(throws: ListenURL.ParseError.invalid("tcp://x:1", reason: "URL scheme must be http, https, unix, or unixs")) {
            try ListenURL(parsing: "tcp://x:1")
        }
        #expect(throws: ListenURL.ParseError.invalid("http://x:1/a", reason: "URL must not contain a path")) {
            try ListenURL(parsing: "http://x:1/a")
        }
        #expect(throws: ListenURL.ParseError.invalid("http://x", reason: "URL address does not have the form \"host:port\"")) {
            try ListenURL(parsing: "http://x")
        }
    }
}

@Suite struct ProtocolSnifferTests {
    private func detect(_ s: String) -> ProtocolSniffer.Detected? {
        ProtocolSniffer.detect(ByteBuffer(string: s))
    }

    @Test func theHTTP2PrefaceIsDetectedOnlyWhenComplete() {
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        #expect(detect(preface) == .http2)
        #expect(detect(preface + "\u{0}\u{0}\u{0}\u{4}") == .http2)
        let bytes = Array(preface.utf8)
        for n in 0..<bytes.count {
            #expect(ProtocolSniffer.detect(ByteBuffer(bytes: bytes[..<n])) == nil, "prefix of \(n) bytes")
        }
    }

    @Test func anythingElseIsHTTP1AsSoonAsItDiverges() {
        #expect(detect("GET /health HTTP/1.1\r\n") == .http1)
        #expect(detect("G") == .http1)
        #expect(detect("PRI * HTTP/1.1") == .http1)
        #expect(detect("\u{16}\u{3}\u{1}") == .http1)
        #expect(detect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r") == .http1)
    }

    @Test func bytesThatArriveWhileInstallingFollowTheFirstOnesInOrder() throws {
        // Installing can re-enter channelRead (the new handler's first flush fails on a reset
        // connection, and the channel reacts underneath); this once crashed on a nil buffer.
        let channel = EmbeddedChannel()
        let sniffer = ProtocolSniffer { context, _, _ in
            context.channel.pipeline.syncOperations.fireChannelRead(NIOAny(ByteBuffer(string: "-more")))
        }
        try channel.pipeline.syncOperations.addHandler(sniffer)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        var received = ByteBuffer()
        while var part = try channel.readInbound(as: ByteBuffer.self) { received.writeBuffer(&part) }
        #expect(received == ByteBuffer(string: "GET / HTTP/1.1\r\n-more"))
    }

    @Test func aChannelClosedWhileInstallingGetsNoBytes() throws {
        let channel = EmbeddedChannel()
        let sniffer = ProtocolSniffer { context, _, _ in context.close(promise: nil) }
        try channel.pipeline.syncOperations.addHandler(sniffer)
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(!channel.isActive)
    }

    @Test func theSnifferInstallsTheDetectedProtocolAndPassesEveryByteOn() throws {
        let channel = EmbeddedChannel()
        var seen: [ProtocolSniffer.Detected] = []
        let sniffer = ProtocolSniffer { _, detected, _ in seen.append(detected) }
        try channel.pipeline.syncOperations.addHandler(sniffer)
        try channel.writeInbound(ByteBuffer(string: "PRI * HTTP/2"))
        #expect(seen.isEmpty)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: ".0\r\n\r\nSM\r\n\r\nxyz"))
        #expect(seen == [.http2])
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxyz"))
        // The sniffer left the pipeline: later bytes pass straight through.
        try channel.writeInbound(ByteBuffer(string: "more"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "more"))
        #expect(seen == [.http2])
        _ = try channel.finish()
    }
}

@Suite struct CallHandleStateTests {
    @Test func theFirstCompletionWinsAndLaterOnesAreRefused() {
        let state = CallHandleState()
        #expect(state.complete())
        #expect(!state.complete())
        #expect(state.isCompleted)
    }

    @Test func pendingBytesCountSentMinusDrainedAndNeverGoBelowZero() {
        let state = CallHandleState()
        state.addPending(100)
        state.addPending(50)
        state.drained(120)
        #expect(state.pending == 30)
        state.drained(1000)
        #expect(state.pending == 0)
    }

    @Test func cancellationIsVisibleFromOtherThreads() async {
        let state = CallHandleState()
        #expect(!state.isCancelled)
        await Task.detached { state.markCancelled() }.value
        #expect(state.isCancelled)
    }

    @Test func cancelHandlersRunOnceWhenTheCallEndsOrAtOnceWhenItHasEnded() {
        let state = CallHandleState()
        let runs = Mutex(0)
        state.whenCancelled { runs.withLock { $0 += 1 } }
        state.whenCancelled { runs.withLock { $0 += 10 } }
        #expect(runs.withLock { $0 } == 0)
        state.markCancelled()
        #expect(runs.withLock { $0 } == 11)
        state.markCancelled()
        #expect(runs.withLock { $0 } == 11)
        state.whenCancelled { runs.withLock { $0 += 100 } }
        #expect(runs.withLock { $0 } == 111)
    }
}
