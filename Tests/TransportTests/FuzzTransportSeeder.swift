import Foundation
import NIOCore
import Testing

@testable import Transport

/// Writes seed inputs for the transport fuzzer (Sources/FuzzTransport): the bytes a real nghttp2
/// client sent in a few valid exchanges, in the fuzzer's input format (mode byte, chunk byte,
/// client bytes). Runs only when `SWETCD_FUZZ_TRANSPORT_CORPUS` names a directory:
///
///   SWETCD_FUZZ_TRANSPORT_CORPUS=$PWD/Tests/FuzzCorpus/Transport swift test --filter FuzzTransportSeeder
///
/// The committed seeds in Tests/FuzzCorpus/Transport were written this way.
@Suite struct FuzzTransportSeeder {
    static let directory = ProcessInfo.processInfo.environment["SWETCD_FUZZ_TRANSPORT_CORPUS"]

    /// Paths the fuzz target's router serves.
    static let range = "/etcdserverpb.KV/Range"
    static let put = "/etcdserverpb.KV/Put"
    static let watch = "/etcdserverpb.Watch/Watch"
    static let snapshot = "/etcdserverpb.Maintenance/Snapshot"

    static var router: GRPCRouter {
        var r = GRPCRouter()
        r.register(range, .unary { _, request, responder in responder.respond(request) })
        r.register(put, .unary { _, request, responder in responder.respond(request) })
        for path in [watch, snapshot] {
            r.register(path, .streaming(kind: .bidirectionalStreaming) { _, stream in
                RecordingObserver(stream: stream, echo: true, finishOnEnd: true)
            })
        }
        return r
    }

    /// Runs `script` against a server and returns what the client sent.
    static func capture(manualWindow: Bool = false, _ script: (ServerHarness) throws -> Void) throws -> [UInt8] {
        let h = try ServerHarness(router: router, client: NGHTTP2TestClient(manualWindowUpdates: manualWindow))
        try script(h)
        try h.pump()
        return h.clientBytesSent
    }

    static func exchanges() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        out.append(("unary-range", try capture { h in
            h.client.grpcCall(range, messages: [[0x0a, 0x03, 0x66, 0x6f, 0x6f]])
            try h.pump()
        }))
        out.append(("unary-put-twice", try capture { h in
            h.client.grpcCall(put, messages: [[0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]])
            h.client.grpcCall(put, messages: [[0x0a, 0x01, 0x63]], timeout: "5S", extra: [("token", "abc"), ("hasleader", "true")])
            try h.pump()
        }))
        out.append(("bidi-watch", try capture { h in
            let id = h.client.grpcCall(watch, messages: [[0x0a, 0x03, 0x0a, 0x01, 0x77]], endStream: false)
            try h.pump()
            h.client.send(id, NGHTTP2TestClient.frame([0x1a, 0x00]) + NGHTTP2TestClient.frame([0xee]))
            try h.pump()
            h.client.send(id, [], endStream: true)
            try h.pump()
        }))
        out.append(("http2-get", try capture { h in
            h.client.request([(":method", "GET"), (":scheme", "http"), (":path", "/health?serializable=true"), (":authority", "x")])
            try h.pump()
        }))
        out.append(("reset-mid-call", try capture { h in
            let id = h.client.grpcCall(watch, messages: [[1]], endStream: false)
            try h.pump()
            h.client.reset(id)
            h.client.ping()
            try h.pump()
        }))
        out.append(("snapshot-window", try capture(manualWindow: true) { h in
            let id = h.client.grpcCall(snapshot, messages: [Array(repeating: 7, count: 2_000)], endStream: false)
            try h.pump()
            h.client.consume(id, h.client.dataBytesReceived)
            try h.pump()
        }))
        return out
    }

    @Test(.enabled(if: directory != nil, "set SWETCD_FUZZ_TRANSPORT_CORPUS to write the seed corpus"))
    func writeSeedCorpus() throws {
        let dir = URL(fileURLWithPath: Self.directory!)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, bytes) in try Self.exchanges() {
            // Raw mode (the client's own preface), whole reads and 7-byte reads.
            try Data([1, 255] + bytes).write(to: dir.appendingPathComponent("seed-\(name)-raw"))
            try Data([3, 6] + bytes).write(to: dir.appendingPathComponent("seed-\(name)-raw-split"))
            // Preface mode: the fuzzer adds the preface and SETTINGS; the rest follows.
            try Data([0, 255] + bytes.dropFirst(24)).write(to: dir.appendingPathComponent("seed-\(name)-h2"))
        }
        try Data([1, 255] + Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /v3/kv/range HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".utf8))
            .write(to: dir.appendingPathComponent("seed-http1"))
    }

    @Test func theSeedExchangesAreValid() throws {
        for (name, bytes) in try Self.exchanges() {
            #expect(bytes.starts(with: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)), "\(name)")
            #expect(bytes.count > 40, "\(name)")
        }
    }
}
