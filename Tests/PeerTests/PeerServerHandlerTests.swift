import EtcdProto
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
@testable import Peer

/// A member as the peer handler sees it: records what it is given.
final class FakeServices: PeerServices, @unchecked Sendable {
    let localID: UInt64 = 0x2535_1fad_42b3_c84c
    let clusterID: UInt64 = 0xb271_90a5_159a_0b47
    let snapshotDirectory: String
    let processed = Mutex<[Message]>([])
    let removed: Set<UInt64>

    init(removed: Set<UInt64> = [], snapshotDirectory: String = "/tmp") {
        self.removed = removed
        self.snapshotDirectory = snapshotDirectory
    }

    func process(_ message: Message) -> PeerProcessOutcome {
        if message.to != localID { return .wrongRecipient }
        processed.withLock { $0.append(message) }
        return .accepted
    }
    func isRemoved(_ id: UInt64) -> Bool { removed.contains(id) }
    func reportUnreachable(_ id: UInt64) {}
    func reportSnapshot(_ id: UInt64, succeeded: Bool) {}
    func membersJSON() -> String { "[{\"id\":2681083982177880140,\"peerURLs\":[\"http://127.0.0.1:23800\"],\"name\":\"solo\"}]" }
    func versionJSON() -> String { "{\"etcdserver\":\"3.5.16\",\"etcdcluster\":\"3.5.0\"}" }
    func leaseRenew(_ request: LeaseKeepAliveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseKeepAliveResponse>) -> Void) {
        done(request.id == 7 ? .ok(LeaseKeepAliveResponse(header: nil, id: 7, ttl: 30)) : .notFound)
    }
    func leaseTimeToLive(_ request: LeaseTimeToLiveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseTimeToLiveResponse>) -> Void) {
        done(.notFound)
    }
    func hashKV(revision: Int64, _ done: @escaping @Sendable (Result<PeerHashKV, PeerServiceError>) -> Void) {
        done(revision > 9 ? .failure(PeerServiceError("mvcc: required revision is a future revision"))
                          : .success(PeerHashKV(hash: 3_141_592_653, compactRevision: 2, revision: 9)))
    }
    func downgradeEnabled(_ done: @escaping @Sendable (Result<Bool, PeerServiceError>) -> Void) { done(.success(false)) }
    func snapshotReceived(_ message: Message, dbPath: String) -> PeerProcessOutcome { process(message) }
    let removedBy = Mutex<[UInt64]>([])
    func removedFromCluster(by remote: UInt64) { removedBy.withLock { $0.append(remote) } }
    /// 5 is a learner in sync, 6 a voter, 7 a learner behind; anything else is unknown.
    func promoteMember(_ id: UInt64, _ done: @escaping @Sendable (PeerPromoteOutcome) -> Void) {
        switch id {
        case 5: done(.promoted(membersJSON: "[{\"id\":5,\"peerURLs\":[\"http://127.0.0.1:23805\"]}]"))
        case 6: done(.notLearner)
        case 7: done(.learnerNotReady)
        default: done(.notFound)
        }
    }
}

/// etcd's peer endpoints on one connection (an `EmbeddedChannel` with NIOHTTP1's server codec),
/// fed raw HTTP bytes as a Go member sends them; answers compared with etcd 3.5.16's
/// (`Docs/rafthttp-wire.md` §1–§4).
@Suite(.serialized) struct PeerServerHandlerTests {
    static let remote: UInt64 = 0x4036_b1db_2477_5ea0

    final class Fixture {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let services: FakeServices
        let transport: PeerTransport
        let channel = EmbeddedChannel()

        init(services: FakeServices = FakeServices(), knownPeers: [UInt64] = [PeerServerHandlerTests.remote]) throws {
            self.services = services
            transport = PeerTransport(services: services, group: group, clientTLS: nil, dialTimeout: .milliseconds(100),
                                      localPeerURLs: ["http://127.0.0.1:23800"], logger: Logger(label: "test"))
            // A peer whose URL refuses connections: its readers keep redialling, harmlessly.
            for id in knownPeers { transport.addPeer(id, urls: ["http://127.0.0.1:1"]) }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(PeerServerHandler(transport: transport, services: services, logger: Logger(label: "test")))
        }

        deinit {
            _ = try? channel.finish()
            transport.stop()
            try? group.syncShutdownGracefully()
        }

        func request(_ text: String, body: [UInt8] = []) throws {
            var buffer = channel.allocator.buffer(string: text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n")
            buffer.writeBytes(body)
            try channel.writeInbound(buffer)
        }

        /// Everything written back so far, as text.
        func response() throws -> String {
            channel.embeddedEventLoop.run()  // answers the services gave asynchronously
            var out = ""
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                out += buffer.readString(length: buffer.readableBytes) ?? ""
            }
            return out
        }
    }

    static let goHeaders = """
        X-Etcd-Cluster-Id: b27190a5159a0b47
        X-Min-Cluster-Version: 3.0.0
        X-Peerurls: http://127.0.0.1:23801
        X-Server-From: 4036b1db24775ea0
        X-Server-Version: 3.5.16
        """

    @Test func aStreamGetIsAnsweredChunkedWithTheVersionAndThenHeartbeats() throws {
        let f = try Fixture()
        try f.request("""
            GET /raft/stream/message/4036b1db24775ea0 HTTP/1.1
            Host: 127.0.0.1:23800
            \(Self.goHeaders)
            X-Raft-To: 25351fad42b3c84c

            """)
        let head = try f.response()
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("X-Server-Version: 3.5.16") && head.contains("X-Etcd-Cluster-ID: b27190a5159a0b47"))
        #expect(head.contains("transfer-encoding: chunked") || head.contains("Transfer-Encoding: chunked"))
    }

    @Test func streamRefusalsAreEtcds() throws {
        func answer(_ path: String, to: String = "25351fad42b3c84c", services: FakeServices = FakeServices(), peers: [UInt64] = [Self.remote]) throws -> String {
            let f = try Fixture(services: services, knownPeers: peers)
            try f.request("""
                GET \(path) HTTP/1.1
                Host: x
                \(Self.goHeaders)
                X-Raft-To: \(to)

                """)
            return try f.response()
        }
        let msgappv2 = try answer("/raft/stream/msgappv2/4036b1db24775ea0")
        #expect(msgappv2.hasPrefix("HTTP/1.1 404") && msgappv2.hasSuffix("invalid path\n"))
        let badFrom = try answer("/raft/stream/message/xyz")
        #expect(badFrom.hasPrefix("HTTP/1.1 404") && badFrom.hasSuffix("invalid from\n"))
        let removed = try answer("/raft/stream/message/4036b1db24775ea0", services: FakeServices(removed: [Self.remote]))
        #expect(removed.hasPrefix("HTTP/1.1 410") && removed.hasSuffix("removed member\n"))
        let unknown = try answer("/raft/stream/message/4036b1db24775ea0", peers: [])
        #expect(unknown.hasPrefix("HTTP/1.1 404") && unknown.hasSuffix("error sender not found\n"))
        let wrongTo = try answer("/raft/stream/message/4036b1db24775ea0", to: "1")
        #expect(wrongTo.hasPrefix("HTTP/1.1 412") && wrongTo.hasSuffix("to field mismatch\n"))
        // The version and cluster ID headers are on refusals too.
        #expect(wrongTo.contains("X-Server-Version: 3.5.16"))
    }

    /// etcd's `peerMemberPromoteHandler`: POST only, the ID in decimal, the members as JSON, and
    /// membership's errors as 404/412 text that etcd's `promoteMemberHTTP` looks for.
    @Test func promotionsAreAnsweredAsEtcdsPromoteHandlerAnswers() throws {
        func answer(_ method: String, _ id: String) throws -> String {
            let f = try Fixture()
            try f.request("""
                \(method) /members/promote/\(id) HTTP/1.1
                Host: x
                Content-Length: 0

                """)
            return try f.response()
        }
        let ok = try answer("POST", "5")
        #expect(ok.hasPrefix("HTTP/1.1 200 OK") && ok.contains("Content-Type: application/json"))
        #expect(ok.hasSuffix("[{\"id\":5,\"peerURLs\":[\"http://127.0.0.1:23805\"]}]\n"))
        let voter = try answer("POST", "6")
        #expect(voter.hasPrefix("HTTP/1.1 412") && voter.hasSuffix("membership: can only promote a learner member\n"))
        let behind = try answer("POST", "7")
        #expect(behind.hasPrefix("HTTP/1.1 412") && behind.hasSuffix("etcdserver: can only promote a learner member which is in sync with leader\n"))
        let unknown = try answer("POST", "8")
        #expect(unknown.hasPrefix("HTTP/1.1 404") && unknown.hasSuffix("membership: ID not found\n"))
        let notDecimal = try answer("POST", "5a")
        #expect(notDecimal.hasPrefix("HTTP/1.1 404") && notDecimal.hasSuffix("member 5a not found in cluster\n"))
        let get = try answer("GET", "5")
        #expect(get.hasPrefix("HTTP/1.1 405") && get.contains("Allow: POST"))
    }

    @Test func aWrongClusterIDIsA412() throws {
        let f = try Fixture()
        try f.request("""
            POST /raft HTTP/1.1
            Host: x
            X-Etcd-Cluster-Id: 1
            X-Server-Version: 3.5.16
            Content-Length: 0

            """)
        let text = try f.response()
        #expect(text.hasPrefix("HTTP/1.1 412") && text.hasSuffix("cluster ID mismatch\n"))
        // etcd sets its cluster ID on the answer before checking (the refused side logs it).
        #expect(text.contains("X-Etcd-Cluster-ID: b27190a5159a0b47"))
        #expect(text.contains("Date: "))
    }

    @Test func streamPathsAndSenderIDsAreReadAsGoReadsThem() throws {
        func answer(_ path: String) throws -> String {
            let f = try Fixture()
            try f.request("""
                GET \(path) HTTP/1.1
                Host: x
                \(Self.goHeaders)
                X-Raft-To: 25351fad42b3c84c

                """)
            return try f.response()
        }
        // strconv.ParseUint(s, 16, 64): leading zeros are fine.
        #expect(try answer("/raft/stream/message/004036b1db24775ea0").hasPrefix("HTTP/1.1 200"))
        // path.Dir names the stream type before path.Base is read as the sender.
        #expect(try answer("/raft/stream/message/4036b1db24775ea0/x").hasSuffix("invalid path\n"))
        #expect(try answer("/raft/stream/message/+4036b1db24775ea0").hasSuffix("invalid from\n"))
    }

    @Test func versionsAreReadAsGoSemverReadsThem() {
        #expect(PeerProtocol.majorMinor("03.5.0") == PeerProtocol.MajorMinor(major: 3, minor: 5))
        #expect(PeerProtocol.majorMinor("3.5.0-rc.1+build-7") == PeerProtocol.MajorMinor(major: 3, minor: 5))
        #expect(PeerProtocol.majorMinor("+3.5.0") == nil)
        #expect(PeerProtocol.majorMinor("3.5.0-a_b") == nil)
        #expect(PeerProtocol.majorMinor("3.5.0+bu_ild") == nil)
        #expect(PeerProtocol.majorMinor("3.5") == nil)
        #expect(PeerProtocol.majorMinor("v3.5.0") == nil)
    }

    @Test func hashKVAndDowngradeEnabledAnswerAsEtcds() throws {
        let f = try Fixture()
        let body = Array("{\"revision\":0}".utf8)
        try f.request("GET /members/hashkv HTTP/1.1\nHost: x\nContent-Length: \(body.count)\n", body: body)
        let hash = try f.response()
        #expect(hash.hasPrefix("HTTP/1.1 200") && hash.hasSuffix("{\"header\":{\"revision\":9},\"hash\":3141592653,\"compact_revision\":2}"))
        let future = Array("{\"revision\":10}".utf8)
        try f.request("GET /members/hashkv HTTP/1.1\nHost: x\nContent-Length: \(future.count)\n", body: future)
        let refused = try f.response()
        #expect(refused.hasPrefix("HTTP/1.1 400") && refused.hasSuffix("mvcc: required revision is a future revision\n"))
        try f.request("GET /members/hashkv HTTP/1.1\nHost: x\nContent-Length: 1\n", body: Array("x".utf8))
        #expect(try f.response().hasSuffix("error unmarshalling request\n"))
        try f.request("GET /members/hashkv HTTP/1.1\nHost: x\nX-Etcd-Cluster-Id: 1\nContent-Length: 0\n")
        #expect(try f.response().hasSuffix("cluster ID mismatch\n"))
        try f.request("GET /downgrade/enabled HTTP/1.1\nHost: x\n")
        let downgrade = try f.response()
        #expect(downgrade.hasPrefix("HTTP/1.1 200") && downgrade.hasSuffix("\r\n\r\nfalse"))
        try f.request("POST /downgrade/enabled HTTP/1.1\nHost: x\nContent-Length: 0\n")
        #expect(try f.response().hasPrefix("HTTP/1.1 405"))
    }

    @Test func aPipelineMessageReachesRaftAndIsAnswered204() throws {
        let f = try Fixture()
        let m = Message(type: .heartbeat, to: f.services.localID, from: Self.remote, term: 5, commit: 3)
        let body = m.serializedBytes()
        try f.request("""
            POST /raft HTTP/1.1
            Host: x
            \(Self.goHeaders)
            Content-Type: application/protobuf
            Content-Length: \(body.count)

            """, body: body)
        #expect(try f.response().hasPrefix("HTTP/1.1 204 No Content\r\n"))
        #expect(f.services.processed.withLock { $0 } == [m])
        // A message for another member: etcd's 500.
        var other = m
        other.to = 99
        let otherBody = other.serializedBytes()
        try f.request("""
            POST /raft HTTP/1.1
            Host: x
            \(Self.goHeaders)
            Content-Length: \(otherBody.count)

            """, body: otherBody)
        let text = try f.response()
        #expect(text.hasPrefix("HTTP/1.1 500") && text.hasSuffix("error processing raft message\n"))
    }

    @Test func membersVersionProbingAndMethodChecks() throws {
        let f = try Fixture()
        try f.request("GET /members HTTP/1.1\nHost: x\n")
        let members = try f.response()
        #expect(members.contains("X-Etcd-Cluster-ID: b27190a5159a0b47") && members.hasSuffix("\"name\":\"solo\"}]\n"))
        try f.request("GET /version HTTP/1.1\nHost: x\n")
        #expect(try f.response().hasSuffix("{\"etcdserver\":\"3.5.16\",\"etcdcluster\":\"3.5.0\"}"))
        try f.request("GET /raft/probing HTTP/1.1\nHost: x\n")
        #expect(try f.response().contains("{\"OK\":true,\"Now\":\""))
        try f.request("POST /members HTTP/1.1\nHost: x\nContent-Length: 0\n")
        let post = try f.response()
        #expect(post.hasPrefix("HTTP/1.1 405") && post.contains("Allow: GET"))
        try f.request("GET /nothing HTTP/1.1\nHost: x\n")
        #expect(try f.response().hasSuffix("404 page not found\n"))
    }

    @Test func leaseRenewalsAreAnsweredInProtobuf() throws {
        let f = try Fixture()
        let known = LeaseKeepAliveRequest(id: 7).serializedBytes()
        try f.request("POST /leases HTTP/1.1\nHost: x\nContent-Type: application/protobuf\nContent-Length: \(known.count)\n", body: known)
        f.channel.embeddedEventLoop.run()
        let ok = try f.response()
        #expect(ok.hasPrefix("HTTP/1.1 200"))
        let body = Array(ok.utf8.suffix(LeaseKeepAliveResponse(header: nil, id: 7, ttl: 30).serializedBytes().count))
        #expect(try LeaseKeepAliveResponse(serializedBytes: body).ttl == 30)
        let unknown = LeaseKeepAliveRequest(id: 8).serializedBytes()
        try f.request("POST /leases HTTP/1.1\nHost: x\nContent-Length: \(unknown.count)\n", body: unknown)
        f.channel.embeddedEventLoop.run()
        #expect(try f.response().hasSuffix("lease not found\n"))
        try f.request("GET /leases HTTP/1.1\nHost: x\n")
        let get = try f.response()
        #expect(get.hasPrefix("HTTP/1.1 405") && !get.contains("Allow:"))
    }
}
