import COpenSSL
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Transport

/// A CA, a server certificate for localhost/127.0.0.1, a client certificate (CN "alice") signed by
/// the CA and one (CN "mallory") signed by another CA, made once with the `openssl` command line.
final class TestCertificates: Sendable {
    static let shared: TestCertificates = {
        do { return try TestCertificates() } catch { fatalError("cannot make test certificates: \(error)") }
    }()

    let directory: String
    var caCert: String { directory + "/ca.pem" }
    var serverCert: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server-key.pem" }
    var clientCert: String { directory + "/alice.pem" }
    var clientKey: String { directory + "/alice-key.pem" }
    var otherClientCert: String { directory + "/mallory.pem" }
    var otherClientKey: String { directory + "/mallory-key.pem" }

    private init() throws {
        directory = NSTemporaryDirectory() + "swetcd-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", d + "/ca-key.pem", "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=test-ca"])
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", d + "/other-ca-key.pem", "-out", d + "/other-ca.pem", "-days", "2", "-subj", "/CN=other-ca"])
        try leaf("server", cn: "server", ca: "ca", ext: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try leaf("alice", cn: "alice", ca: "ca", ext: "extendedKeyUsage=clientAuth\n")
        try leaf("mallory", cn: "mallory", ca: "other-ca", ext: "extendedKeyUsage=clientAuth\n")
    }

    private func leaf(_ name: String, cn: String, ca: String, ext: String) throws {
        let d = directory
        try ext.write(toFile: "\(d)/\(name).ext", atomically: true, encoding: .utf8)
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", "\(d)/\(name)-key.pem", "-out", "\(d)/\(name).csr", "-subj", "/CN=\(cn)"])
        try Self.openssl(["x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/\(ca).pem", "-CAkey", "\(d)/\(ca)-key.pem",
                          "-CAcreateserial", "-out", "\(d)/\(name).pem", "-days", "2", "-extfile", "\(d)/\(name).ext"])
    }

    private static func openssl(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TLSError.configuration("openssl \(arguments.joined(separator: " ")) failed") }
    }
}

/// The client half of a TLS connection for tests: an OpenSSL client `SSL` on memory BIOs, so the
/// test moves its bytes to and from an `EmbeddedChannel` by hand.
final class TLSTestClient {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private(set) var handshakeDone = false
    private(set) var failed = false

    init(caFile: String, certFile: String? = nil, keyFile: String? = nil, alpn: [String] = ["h2"]) {
        context = SSL_CTX_new(TLS_client_method())!
        precondition(SSL_CTX_load_verify_locations(context, caFile, nil) == 1)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let certFile, let keyFile {
            precondition(SSL_CTX_use_certificate_chain_file(context, certFile) == 1)
            precondition(SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1)
        }
        var wire: [UInt8] = []
        for p in alpn { wire.append(UInt8(p.utf8.count)); wire += p.utf8 }
        if !wire.isEmpty { precondition(SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0) }
        ssl = SSL_new(context)!
        readBIO = BIO_new(BIO_s_mem())!
        writeBIO = BIO_new(BIO_s_mem())!
        _ = COpenSSL_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set0_rbio(ssl, readBIO)
        SSL_set0_wbio(ssl, writeBIO)
        SSL_set_connect_state(ssl)
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// Advances the handshake; false once it has failed.
    @discardableResult
    func step() -> Bool {
        guard !handshakeDone, !failed else { return !failed }
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { handshakeDone = true; return true }
        let e = SSL_get_error(ssl, rc)
        if e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE {
            failed = true
            ERR_clear_error()
        }
        return !failed
    }

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            _ = BIO_write(readBIO, base, Int32(raw.count))
        }
    }

    /// Ciphertext waiting for the server.
    func output() -> [UInt8] {
        let pending = Int(COpenSSL_BIO_pending(writeBIO))
        guard pending > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: pending)
        let n = BIO_read(writeBIO, &out, Int32(pending))
        return Array(out.prefix(Int(max(n, 0))))
    }

    func write(_ plaintext: [UInt8]) {
        precondition(SSL_write(ssl, plaintext, Int32(plaintext.count)) == Int32(plaintext.count))
    }

    func read() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = SSL_read(ssl, &chunk, Int32(chunk.count))
            if n <= 0 { ERR_clear_error(); break }
            out += chunk.prefix(Int(n))
        }
        return out
    }

    /// True when reading hits a fatal TLS error (the server's alert), not just "no data yet".
    func readFailsWithAlert() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1024)
        let n = SSL_read(ssl, &chunk, Int32(chunk.count))
        defer { ERR_clear_error() }
        return n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_SSL
    }

    var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }
}

/// Records what comes out of the TLS handler on the plaintext side.
final class PlaintextRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var events: [TLSHandshakeCompleted] = []
    var plaintext: [UInt8] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSHandshakeCompleted { events.append(e) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        plaintext += unwrapInboundIn(data).readableBytesView
    }
}

/// A server channel with `TLSHandler` + recorder, and a test client, wired together.
final class TLSPair {
    let channel = EmbeddedChannel()
    let recorder = PlaintextRecorder()
    let client: TLSTestClient

    init(server: TLSConfiguration, client: TLSTestClient) throws {
        self.client = client
        let context = try TLSContext(server)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context, logger: Logger(label: "test")))
        try channel.pipeline.syncOperations.addHandler(recorder)
    }

    /// Runs the handshake (and moves any data) until neither side has bytes to send.
    func pump() throws {
        for _ in 0..<100 {
            client.step()
            var progressed = false
            let out = client.output()
            if !out.isEmpty && channel.isActive {
                try channel.writeInbound(ByteBuffer(bytes: out))
                progressed = true
            }
            while let b = try channel.readOutbound(as: ByteBuffer.self) {
                client.feed(b)
                progressed = true
            }
            if !progressed { return }
        }
    }
}

@Suite struct TLSHandlerTests {
    let certs = TestCertificates.shared

    func serverConfiguration(clientCertAuth: Bool = false) -> TLSConfiguration {
        TLSConfiguration(certificateFile: certs.serverCert, keyFile: certs.serverKey,
                         trustedCAFile: clientCertAuth ? certs.caCert : nil, clientCertAuth: clientCertAuth)
    }

    @Test func theHandshakeCompletesWithALPNh2AndCarriesPlaintextBothWays() throws {
        let pair = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert, alpn: ["h2", "http/1.1"]))
        try pair.pump()
        #expect(pair.client.handshakeDone)
        #expect(pair.client.negotiatedProtocol == "h2")
        #expect(pair.recorder.events.count == 1)
        #expect(pair.recorder.events.first?.applicationProtocol == "h2")
        #expect(pair.recorder.events.first?.peerCommonName == nil)

        pair.client.write(Array("PRI * HTTP/2.0".utf8))
        try pair.pump()
        #expect(String(decoding: pair.recorder.plaintext, as: UTF8.self) == "PRI * HTTP/2.0")

        try pair.channel.writeAndFlush(ByteBuffer(string: "answer")).wait()
        try pair.pump()
        #expect(String(decoding: pair.client.read(), as: UTF8.self) == "answer")
    }

    @Test func aClientOfferingOnlyHTTP1GetsHTTP1AndNoALPNAtAllIsAccepted() throws {
        let http1 = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert, alpn: ["http/1.1"]))
        try http1.pump()
        #expect(http1.recorder.events.first?.applicationProtocol == "http/1.1")
        let none = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert, alpn: []))
        try none.pump()
        #expect(none.client.handshakeDone)
        #expect(none.recorder.events.first?.applicationProtocol == nil)
    }

    @Test func writesBeforeTheHandshakeCompletesAreSentAfterIt() throws {
        let pair = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert))
        let written = pair.channel.writeAndFlush(ByteBuffer(string: "early"))
        try pair.pump()
        try written.wait()
        #expect(String(decoding: pair.client.read(), as: UTF8.self) == "early")
    }

    @Test func clientCertAuthRejectsAClientWithoutACertificate() throws {
        let pair = try TLSPair(server: serverConfiguration(clientCertAuth: true), client: TLSTestClient(caFile: certs.caCert))
        try pair.pump()
        pair.client.step()
        // With TLS 1.3 the client finishes its side first; the server's refusal arrives as an alert.
        #expect(pair.client.failed || pair.client.readFailsWithAlert())
        #expect(!pair.channel.isActive, "the server closed the connection")
        #expect(pair.recorder.events.isEmpty)
        #expect(pair.recorder.plaintext.isEmpty)
    }

    @Test func clientCertAuthRejectsACertificateFromAnotherCA() throws {
        let client = TLSTestClient(caFile: certs.caCert, certFile: certs.otherClientCert, keyFile: certs.otherClientKey)
        let pair = try TLSPair(server: serverConfiguration(clientCertAuth: true), client: client)
        try pair.pump()
        pair.client.step()
        #expect(!pair.channel.isActive)
        #expect(pair.recorder.events.isEmpty)
    }

    @Test func theVerifiedClientCertificatesCommonNameIsReported() throws {
        let client = TLSTestClient(caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey)
        let pair = try TLSPair(server: serverConfiguration(clientCertAuth: true), client: client)
        try pair.pump()
        #expect(pair.client.handshakeDone)
        #expect(pair.channel.isActive)
        #expect(pair.recorder.events.first?.peerCommonName == "alice")
        #expect(pair.recorder.events.first?.applicationProtocol == "h2")
    }

    @Test func garbageInsteadOfAClientHelloClosesTheConnection() throws {
        let pair = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert))
        try pair.channel.writeInbound(ByteBuffer(bytes: Array(repeating: 0x42, count: 300)))
        #expect(!pair.channel.isActive)
        #expect(pair.recorder.events.isEmpty)
        // Bytes after the close are ignored.
        try? pair.channel.writeInbound(ByteBuffer(bytes: [1, 2, 3]))
    }

    @Test func aClientThatHangsUpMidHandshakeLeavesNothingBehind() throws {
        let pair = try TLSPair(server: serverConfiguration(), client: TLSTestClient(caFile: certs.caCert))
        pair.client.step()
        let hello = pair.client.output()
        try pair.channel.writeInbound(ByteBuffer(bytes: hello.prefix(hello.count / 2)))
        try pair.channel.close().wait()
        #expect(!pair.channel.isActive)
        #expect(pair.recorder.events.isEmpty)
    }

    @Test func aBadCertificateFileIsAConfigurationError() {
        #expect(throws: TLSError.self) {
            _ = try TLSContext(TLSConfiguration(certificateFile: "/nonexistent.pem", keyFile: certs.serverKey))
        }
        #expect(throws: TLSError.self) {
            _ = try TLSContext(TLSConfiguration(certificateFile: certs.serverCert, keyFile: certs.clientKey))
        }
        #expect(throws: TLSError.unknownCipherSuite("TLS_NOPE")) {
            _ = try TLSContext(TLSConfiguration(certificateFile: certs.serverCert, keyFile: certs.serverKey, cipherSuites: ["TLS_NOPE"]))
        }
    }
}
