// libFuzzer target for the transport's input path: bytes from a client socket through the
// protocol sniffer into HTTP2ServerHandler (nghttp2, gRPC framing, routing, flow control) or the
// HTTP/1.1 handlers, on an EmbeddedChannel.
//
// Build and run (Swift 6.3, Linux), from the package root; Tests/fuzz-transport.sh does both:
//
//   swift build -c release --scratch-path .build-fuzz --product FuzzTransport \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
//   .build-fuzz/release/FuzzTransport -runs=1000000 fuzz-corpus-transport/ Tests/FuzzCorpus/Transport/
//
// Same conventions as FuzzEtcdProto (see the top of its main.swift for why): top-level code hands
// control to libFuzzer's driver through CFuzzerShim when libFuzzer is linked in; a plain
// `swift build` makes this a replayer of the files named on its command line.
//
// Input format: byte 0 picks the mode, byte 1 the chunk size, the rest is what the client sends.
//   mode & 1 == 0: the HTTP/2 client preface and an empty SETTINGS frame are sent first, so the
//                  fuzzer spends its time inside HTTP/2 and gRPC rather than on the preface;
//   mode & 1 == 1: the bytes go to the sniffer as they are (HTTP/1.1, HTTP/2 or garbage).
//   mode & 2:      the channel turns unwritable after the first chunk and writable at the end.
//   mode & 4:      the loop's clock jumps an hour at the end (grpc-timeout deadlines fire).
// The bytes are delivered in chunks of (byte 1 + 1) bytes, so frames split across reads too.
//
// Findings are traps: any crash, sanitizer report, precondition failure, or a leak found by
// LeakSanitizer. The router has an echo unary method, a method that answers later from a task on
// the loop, an echo bidi stream and an HTTP handler, so responses, trailers and resets run too.

import CFuzzerShim
import Logging
import NIOCore
import NIOEmbedded
import Transport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class EchoObserver: GRPCStreamObserver {
    let stream: any GRPCServerStream
    var count = 0
    init(stream: any GRPCServerStream) { self.stream = stream }
    func received(_ message: [UInt8]) {
        count += 1
        if message.first == 0xEE {
            stream.finish(GRPCStatus(.outOfRange, "etcdserver: mvcc: required revision has been compacted ✓"))
        } else {
            stream.send(message)
        }
    }
    func receivedEnd() { stream.finish(.ok) }
    func cancelled() {}
}

struct FuzzHTTP: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        respond(.text(request.path == "/health" ? 200 : 404, "{\"health\":\"true\"}\n"))
    }
}

let router: GRPCRouter = {
    var r = GRPCRouter()
    r.register("/etcdserverpb.KV/Range", .unary { _, request, responder in responder.respond(request) })
    r.register("/etcdserverpb.KV/Put", .unary { context, request, responder in
        context.eventLoop.execute {
            if request.count % 3 == 0 {
                responder.fail(GRPCStatus(.invalidArgument, "etcdserver: key is not provided"))
            } else {
                responder.respond(Array(request.reversed()))
            }
        }
    })
    r.register("/etcdserverpb.Watch/Watch", .streaming(kind: .bidirectionalStreaming) { _, stream in EchoObserver(stream: stream) })
    r.register("/etcdserverpb.Maintenance/Snapshot", .streaming(kind: .serverStreaming) { _, stream in
        // A server stream that sends more than one window's worth as soon as it starts.
        for _ in 0..<20 { stream.send([UInt8](repeating: 0x5a, count: 8192)) }
        return EchoObserver(stream: stream)
    })
    return r
}()

let configuration: TransportConfiguration = {
    // Messages up to 1 MiB: a prefix announcing more than a stream window (64 KiB) takes the
    // admission path even in a short input; 16 MiB budget, 8 MiB admitted at once.
    var c = TransportConfiguration(receiveMessageBytesMax: 1 << 20, httpBodyBytesMax: 16 * 1024, maxConcurrentStreams: 16)
    c.backlog = 1
    return c
}()

let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size >= 2, let data else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let mode = input[0]
    let chunk = Int(input[1]) + 1
    var bytes: [UInt8] = mode & 1 == 0 ? preface : []
    bytes += input[2...]

    let channel = EmbeddedChannel()
    do {
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        try TransportPipeline.configure(channel: channel, tls: nil, router: router, http: FuzzHTTP(),
                                        configuration: configuration, logger: logger)
    } catch {
        fatalError("pipeline setup failed: \(error)")
    }
    var offset = 0
    var first = true
    while offset < bytes.count && channel.isActive {
        let end = min(bytes.count, offset + chunk)
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
        offset = end
        channel.embeddedEventLoop.run()
        if first && mode & 2 != 0 {
            channel.isWritable = false
            channel.pipeline.fireChannelWritabilityChanged()
        }
        first = false
        while let _ = try? channel.readOutbound(as: ByteBuffer.self) {}
    }
    if mode & 2 != 0 && channel.isActive {
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
    }
    if mode & 4 != 0 { channel.embeddedEventLoop.advanceTime(by: .hours(1)) }
    channel.embeddedEventLoop.run()
    while let _ = try? channel.readOutbound(as: ByteBuffer.self) {}
    _ = try? channel.finish(acceptAlreadyClosed: true)
    while let _ = try? channel.readOutbound(as: ByteBuffer.self) {}
    return 0
}

/// Without libFuzzer: runs each file named on the command line through `fuzzOneInput`.
func replay(_ paths: ArraySlice<String>) -> CInt {
    if paths.isEmpty {
        print("FuzzTransport was built without libFuzzer: give files to replay, or build with Tests/fuzz-transport.sh")
        return 2
    }
    for path in paths {
        guard let file = fopen(path, "rb") else {
            print("cannot open \(path)")
            return 1
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        fclose(file)
        _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        print("\(path): ok (\(bytes.count) bytes)")
    }
    return 0
}

let status = swetcd_fuzzer_run(CommandLine.argc, CommandLine.unsafeArgv) { data, size in fuzzOneInput(data, size) }
exit(status == -1 ? replay(CommandLine.arguments.dropFirst()) : status)
