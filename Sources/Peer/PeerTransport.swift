import EtcdProto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Transport

/// What every peer connection of this member shares. Immutable; any thread.
final class PeerContext: Sendable {
    let services: any PeerServices
    let group: any EventLoopGroup
    let clientTLS: TLSContext?
    let dialTimeout: TimeAmount
    let logger: Logger
    /// This member's advertised peer URLs (`X-PeerURLs`).
    let localPeerURLs: [String]
    let metrics: (any PeerMetrics)?
    private let activity: Mutex<[UInt64: NIODeadline]> = Mutex([:])

    init(services: any PeerServices, group: any EventLoopGroup, clientTLS: TLSContext?, dialTimeout: TimeAmount,
         localPeerURLs: [String], metrics: (any PeerMetrics)?, logger: Logger) {
        self.services = services
        self.metrics = metrics
        self.group = group
        self.clientTLS = clientTLS
        self.dialTimeout = dialTimeout
        self.localPeerURLs = localPeerURLs
        self.logger = logger
    }

    /// The headers etcd sends with every stream GET (`to` set) and pipeline/snapshot POST.
    func requestHeaders(to remote: UInt64?) -> [(String, String)] {
        var headers: [(String, String)] = [
            (PeerProtocol.Header.serverFrom, PeerProtocol.idString(services.localID)),
            (PeerProtocol.Header.serverVersion, PeerProtocol.serverVersion),
            (PeerProtocol.Header.minClusterVersion, PeerProtocol.minClusterVersion),
            (PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID)),
        ]
        if !localPeerURLs.isEmpty { headers.append((PeerProtocol.Header.peerURLs, localPeerURLs.joined(separator: ","))) }
        if let remote { headers.append((PeerProtocol.Header.raftTo, PeerProtocol.idString(remote))) }
        return headers
    }

    /// etcd's `peerStatus.activate`: something got through to or from `id`.
    func peerActivated(_ id: UInt64) {
        let changed = activity.withLock { a -> Bool in
            guard a[id] == nil else { return false }
            a[id] = .now()
            return true
        }
        if changed { metrics?.peerActivated(id) }
    }

    func peerDeactivated(_ id: UInt64) {
        let changed = activity.withLock { $0.removeValue(forKey: id) != nil }
        if changed { metrics?.peerDeactivated(id) }
    }

    /// Since when `id` has been reachable without interruption, nil when it is not.
    func activeSince(_ id: UInt64) -> NIODeadline? {
        activity.withLock { $0[id] }
    }
}

/// One remote member (etcd's `peer`): the two streams we read from it, the two it opened to us
/// (our writers), and a pipeline for when neither is up. `send` picks as etcd's `peer.pick`
/// does: MsgApp on the msgapp stream, anything on the message stream, else the pipeline.
/// Thread-safe.
final class RemotePeer: Sendable {
    /// etcd's `pipelineBufSize`: messages waiting for the pipeline, at most.
    static let pipelineQueueMax = 64

    let id: UInt64
    private let context: PeerContext
    private let readers: [StreamReader]
    private let state = Mutex(State())
    private let client: PeerHTTPClient

    private struct State {
        var urls: [String] = []
        var writers: [StreamType: StreamWriter] = [:]
        var pipelineQueued = 0
    }

    init(id: UInt64, urls: [String], context: PeerContext, client: PeerHTTPClient) {
        self.id = id
        self.context = context
        self.client = client
        self.state.withLock { $0 = State(urls: urls) }
        readers = [StreamType.message, .msgApp].map { StreamReader(type: $0, remoteID: id, urls: urls, context: context) }
    }

    var urls: [String] { state.withLock { $0.urls } }

    /// etcd's prober interval (`ConnReadTimeout - 1s`): how often `/raft/probing` measures the
    /// round trip to the peer (`etcd_network_peer_round_trip_time_seconds`).
    static let probeInterval = TimeAmount.seconds(4)
    private let prober = Mutex<RepeatedTask?>(nil)

    func start() {
        for r in readers { r.start() }
        guard context.metrics != nil else { return }
        let task = context.group.next().scheduleRepeatedTask(initialDelay: .zero, delay: Self.probeInterval) { [weak self] _ in
            self?.probe()
        }
        prober.withLock { $0 = task }
    }

    private func probe() {
        guard let url = urls.first else { return }
        let started = NIODeadline.now()
        let (id, context) = (self.id, self.context)
        client.request(url, method: .GET, path: PeerProtocol.probingPath, timeout: Self.probeInterval).whenSuccess { response in
            guard response.status == .ok else { return }
            let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
            context.metrics?.roundTrip(to: id, seconds: seconds)
        }
    }

    func stop() {
        prober.withLock { $0?.cancel(); $0 = nil }
        for r in readers { r.stop() }
        let writers = state.withLock { s -> [StreamWriter] in
            defer { s.writers = [:] }
            return Array(s.writers.values)
        }
        for w in writers { w.close() }
    }

    func updateURLs(_ urls: [String]) {
        state.withLock { $0.urls = urls }
        for r in readers { r.updateURLs(urls) }
    }

    /// The remote opened a stream to us: our writer for that type (replacing an older one).
    func attach(_ writer: StreamWriter) {
        let old = state.withLock { s -> StreamWriter? in
            defer { s.writers[writer.type] = writer }
            return s.writers[writer.type]
        }
        if let old, old !== writer { old.close() }
        context.peerActivated(id)
        context.logger.info("established TCP streaming connection with remote peer", metadata: [
            "stream-writer-type": "\(writer.type.logName)", "local-member-id": "\(PeerProtocol.idString(context.services.localID))",
            "remote-peer-id": "\(PeerProtocol.idString(id))",
        ])
        writer.channel.closeFuture.whenComplete { _ in
            self.state.withLock { s in
                if s.writers[writer.type] === writer { s.writers[writer.type] = nil }
            }
        }
    }

    /// Sends `messages` (all to this peer), in order per channel. Returns those that could not be
    /// queued anywhere (the caller reports the peer unreachable).
    func send(_ messages: [Message]) -> Int {
        var dropped = 0
        var forMsgApp: [Message] = []
        var forMessage: [Message] = []
        var forPipeline: [Message] = []
        let (msgAppWriter, messageWriter) = state.withLock { s -> (StreamWriter?, StreamWriter?) in (s.writers[StreamType.msgApp], s.writers[StreamType.message]) }
        for m in messages {
            if m.type == .app, let w = msgAppWriter, w.isOpen {
                forMsgApp.append(m)
            } else if let w = messageWriter, w.isOpen {
                forMessage.append(m)
            } else {
                forPipeline.append(m)
            }
        }
        if !forMsgApp.isEmpty, let w = msgAppWriter, !w.send(forMsgApp) { dropped += forMsgApp.count }
        if !forMessage.isEmpty, let w = messageWriter, !w.send(forMessage) { dropped += forMessage.count }
        for m in forPipeline where !pipeline(m) { dropped += 1 }
        if dropped > 0 { context.metrics?.sendFailed(to: id, messages: dropped) }
        return dropped
    }

    /// etcd's pipeline: `POST /raft` with the message as the whole body; 204 is success.
    private func pipeline(_ m: Message) -> Bool {
        let accepted = state.withLock { s -> Bool in
            guard s.pipelineQueued < Self.pipelineQueueMax else { return false }
            s.pipelineQueued += 1
            return true
        }
        guard accepted, let url = urls.first else {
            if accepted { state.withLock { $0.pipelineQueued -= 1 } }
            return false
        }
        var body = ByteBufferAllocator().buffer(capacity: 64)
        body.writeBytes(m.serializedBytes())
        let bytes = body.readableBytes
        var headers = context.requestHeaders(to: nil)
        headers.append(("Content-Type", "application/protobuf"))
        let id = self.id
        let context = self.context
        client.request(url, method: .POST, path: PeerProtocol.raftPath, headers: headers, body: body).whenComplete { result in
            self.state.withLock { $0.pipelineQueued -= 1 }
            switch result {
            case .success(let response) where response.status == .noContent:
                context.metrics?.sent(to: id, bytes: bytes)
                context.peerActivated(id)
            case .success(let response):
                context.logger.debug("pipeline message refused", metadata: ["remote-peer-id": "\(PeerProtocol.idString(id))", "status": "\(response.status.code)", "body": "\(response.errorText)"])
                context.metrics?.sendFailed(to: id, messages: 1)
                self.pipelineFailed()
            case .failure:
                context.metrics?.sendFailed(to: id, messages: 1)
                self.pipelineFailed()
            }
        }
        return true
    }

    private func pipelineFailed() {
        context.peerDeactivated(id)
        // The next URL next time (etcd's urlPicker).
        state.withLock { s in
            if s.urls.count > 1 { s.urls.append(s.urls.removeFirst()) }
        }
        context.services.reportUnreachable(id)
    }

    var isStreaming: Bool { readers.contains(where: \.isActive) }
}

/// This member's side of etcd's rafthttp (`rafthttp.Transport`): the peer listeners, one
/// `RemotePeer` per other member, and `send` for raft's outgoing messages. The member
/// (`EtcdServer`) adds and removes peers as the membership changes.
///
/// Threading: every method may be called from any thread; `send` never blocks (it queues, and
/// reports what it had to drop).
public final class PeerTransport: Sendable {
    private let context: PeerContext
    private let client: PeerHTTPClient
    private let peers = Mutex<[UInt64: RemotePeer]>([:])
    /// Members known only from a request's `X-PeerURLs` (etcd's remotes): reached by pipeline.
    private let remotes = Mutex<[UInt64: [String]]>([:])
    private let listeners = Mutex<[any Channel]>([])

    public init(services: any PeerServices, group: any EventLoopGroup, clientTLS: TLSContext?, dialTimeout: TimeAmount,
                localPeerURLs: [String], metrics: (any PeerMetrics)? = nil, logger: Logger) {
        context = PeerContext(services: services, group: group, clientTLS: clientTLS, dialTimeout: dialTimeout,
                              localPeerURLs: localPeerURLs, metrics: metrics, logger: logger)
        client = PeerHTTPClient(group: group, tls: clientTLS, dialTimeout: dialTimeout, logger: logger)
    }

    /// Starts serving the peer protocol on `url`.
    public func listen(_ url: ListenURL, tls: TLSContext?) throws -> any Channel {
        let context = self.context
        let channel = try HTTP1Listener.bind(group: context.group, url: url, tls: tls, logger: context.logger) { _, _ in
            PeerServerHandler(transport: self, services: context.services, logger: context.logger)
        }.wait()
        listeners.withLock { $0.append(channel) }
        return channel
    }

    public func addPeer(_ id: UInt64, urls: [String]) {
        guard id != context.services.localID else { return }
        let added = peers.withLock { p -> RemotePeer? in
            if let existing = p[id] {
                existing.updateURLs(urls)
                return nil
            }
            let peer = RemotePeer(id: id, urls: urls, context: context, client: client)
            p[id] = peer
            return peer
        }
        remotes.withLock { _ = $0.removeValue(forKey: id) }
        added?.start()
    }

    public func removePeer(_ id: UInt64) {
        let removed = peers.withLock { $0.removeValue(forKey: id) }
        removed?.stop()
        context.peerDeactivated(id)
    }

    public var peerIDs: [UInt64] { peers.withLock { Array($0.keys) } }

    func hasPeer(_ id: UInt64) -> Bool { peers.withLock { $0[id] != nil } }

    func addRemote(_ id: UInt64, urls: [String]) {
        guard id != context.services.localID, !hasPeer(id) else { return }
        remotes.withLock { $0[id] = urls }
    }

    func attach(_ writer: StreamWriter, from id: UInt64) {
        peers.withLock { $0[id] }?.attach(writer)
    }

    /// Raft's outgoing messages. Messages to 0 (etcd zeroes some on purpose) are skipped;
    /// messages no channel could take are reported unreachable.
    public func send(_ messages: [Message]) {
        var byPeer: [UInt64: [Message]] = [:]
        for m in messages where m.to != 0 { byPeer[m.to, default: []].append(m) }
        for (to, batch) in byPeer {
            guard let peer = peers.withLock({ $0[to] }) else {
                context.logger.debug("no peer to send to", metadata: ["remote-peer-id": "\(PeerProtocol.idString(to))"])
                continue
            }
            if peer.send(batch) > 0 { context.services.reportUnreachable(to) }
        }
    }

    /// Sends a snapshot (`message`, a MsgSnap whose metadata and data the member filled in, and
    /// the backend file at `dbPath`) to `message.to`. The file is left in place.
    public func sendSnapshot(_ message: Message, dbPath: String) -> EventLoopFuture<Void> {
        let eventLoop = context.group.next()
        guard let urlText = urls(of: message.to)?.first, let url = try? ListenURL(parsing: urlText) else {
            return eventLoop.makeFailedFuture(PeerHTTPClient.ClientError.invalidURL("member \(PeerProtocol.idString(message.to))"))
        }
        let id = message.to
        let context = self.context
        return SnapshotSender.send(message, dbPath: dbPath, to: url, context: context).map {
            if let size = (try? FileManager.default.attributesOfItem(atPath: dbPath)[.size]) as? Int {
                context.metrics?.sent(to: id, bytes: size)
            }
            context.peerActivated(id)
        }
    }

    var metrics: (any PeerMetrics)? { context.metrics }

    /// Since when `id` has been reachable, nil when it is not (etcd's `ActiveSince`).
    public func activeSince(_ id: UInt64) -> NIODeadline? { context.activeSince(id) }

    /// The peer URLs of a member we talk to.
    public func urls(of id: UInt64) -> [String]? { peers.withLock { $0[id]?.urls } ?? remotes.withLock { $0[id] } }

    // MARK: requests to other members

    /// `POST <url>/leases` to the leader, trying each of its URLs (etcd's `RenewHTTP`).
    public func forwardLeaseRenew(_ request: LeaseKeepAliveRequest, urls: [String], timeout: TimeAmount) -> EventLoopFuture<LeaseForwardResult<LeaseKeepAliveResponse>> {
        forward(request.serializedBytes(), path: PeerProtocol.leasesPath, urls: urls, timeout: timeout) { body in
            try LeaseKeepAliveResponse(serializedBytes: body)
        }
    }

    /// `POST <url>/leases/internal` (etcd's `TimeToLiveHTTP`).
    public func forwardLeaseTimeToLive(_ request: LeaseTimeToLiveRequest, urls: [String], timeout: TimeAmount) -> EventLoopFuture<LeaseForwardResult<LeaseTimeToLiveResponse>> {
        forward(LeaseInternalRequest(leaseTimeToLiveRequest: request).serializedBytes(), path: PeerProtocol.leasesInternalPath, urls: urls, timeout: timeout) { body in
            guard let response = try LeaseInternalResponse(serializedBytes: body).leaseTimeToLiveResponse else {
                throw PeerHTTPClient.ClientError.closedBeforeResponse
            }
            return response
        }
    }

    /// `POST <url>/members/promote/<id>` to the leader, trying each of its URLs (etcd's
    /// `promoteMemberHTTP`).
    public func forwardPromote(_ id: UInt64, urls: [String], timeout: TimeAmount) -> EventLoopFuture<PeerPromoteOutcome> {
        let eventLoop = context.group.next()
        guard let url = urls.first else { return eventLoop.makeSucceededFuture(.failed("no leader URL")) }
        let retry: @Sendable (PeerPromoteOutcome) -> EventLoopFuture<PeerPromoteOutcome> = { outcome in
            if urls.count > 1 { return self.forwardPromote(id, urls: Array(urls.dropFirst()), timeout: timeout) }
            return eventLoop.makeSucceededFuture(outcome)
        }
        return client.request(url, method: .POST, path: PeerProtocol.memberPromotePrefix + String(id), timeout: timeout)
            .flatMap { response -> EventLoopFuture<PeerPromoteOutcome> in
                let text = response.bodyString
                switch response.status {
                case .ok: return eventLoop.makeSucceededFuture(.promoted(membersJSON: text))
                case .requestTimeout: return eventLoop.makeSucceededFuture(.timeout)
                case .notFound: return eventLoop.makeSucceededFuture(.notFound)
                case .preconditionFailed:
                    if text.contains(PeerProtocol.ErrorText.learnerNotReady) { return eventLoop.makeSucceededFuture(.learnerNotReady) }
                    if text.contains(PeerProtocol.ErrorText.memberNotLearner) { return eventLoop.makeSucceededFuture(.notLearner) }
                    return retry(.failed("member promote: unknown error(\(text))"))
                default:
                    return retry(.failed("member promote: unknown error(\(text))"))
                }
            }
            .flatMapError { error in retry(.failed("\(error)")) }
    }

    private func forward<R: Sendable>(_ bytes: [UInt8], path: String, urls: [String], timeout: TimeAmount,
                                      decode: @escaping @Sendable ([UInt8]) throws -> R) -> EventLoopFuture<LeaseForwardResult<R>> {
        let eventLoop = context.group.next()
        guard let url = urls.first else { return eventLoop.makeSucceededFuture(.failed("no leader URL")) }
        var body = ByteBufferAllocator().buffer(capacity: bytes.count)
        body.writeBytes(bytes)
        return client.request(url, method: .POST, path: path, headers: [("Content-Type", "application/protobuf")], body: body, timeout: timeout)
            .flatMap { response -> EventLoopFuture<LeaseForwardResult<R>> in
                switch response.status {
                case .ok:
                    do {
                        return eventLoop.makeSucceededFuture(.ok(try decode(Array(buffer: response.body))))
                    } catch {
                        return eventLoop.makeSucceededFuture(.failed("lease: malformed response"))
                    }
                case .notFound: return eventLoop.makeSucceededFuture(.notFound)
                case .requestTimeout: return eventLoop.makeSucceededFuture(.timeout)
                default:
                    if urls.count > 1 { return self.forward(bytes, path: path, urls: Array(urls.dropFirst()), timeout: timeout, decode: decode) }
                    return eventLoop.makeSucceededFuture(.failed("lease: unknown error(\(response.errorText))"))
                }
            }
            .flatMapError { error in
                if urls.count > 1 { return self.forward(bytes, path: path, urls: Array(urls.dropFirst()), timeout: timeout, decode: decode) }
                return eventLoop.makeSucceededFuture(.failed("\(error)"))
            }
    }

    /// `GET <url>/members` of a member of the cluster this member joins with
    /// `--initial-cluster-state existing` (etcd's `GetClusterFromRemotePeers`), before this
    /// member has an ID or a transport: the first URL that answers 200 gives the members' JSON and
    /// the cluster ID (its `X-Etcd-Cluster-ID` header). nil when none answered. Blocks.
    public static func fetchMembers(urls: [String], group: any EventLoopGroup, tls: TLSContext?, timeout: TimeAmount,
                                    logger: Logger) -> (json: String, clusterID: UInt64)? {
        let client = PeerHTTPClient(group: group, tls: tls, dialTimeout: timeout, logger: logger)
        defer { client.shutdown() }
        for url in urls {
            do {
                let response = try client.request(url, method: .GET, path: PeerProtocol.membersPath, timeout: timeout).wait()
                guard response.status == .ok,
                    let header = response.head.headers.first(name: PeerProtocol.Header.clusterID),
                    let clusterID = PeerProtocol.parseID(Substring(header))
                else {
                    logger.warning("failed to get cluster response", metadata: ["address": "\(url)", "status": "\(response.status.code)"])
                    continue
                }
                return (response.bodyString, clusterID)
            } catch {
                logger.warning("failed to get cluster response", metadata: ["address": "\(url)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// `GET <url>/version` of a member: its `etcdserver` version, nil when it did not answer.
    public func fetchVersion(urls: [String], timeout: TimeAmount) -> EventLoopFuture<String?> {
        let eventLoop = context.group.next()
        guard let url = urls.first else { return eventLoop.makeSucceededFuture(nil) }
        return client.request(url, method: .GET, path: PeerProtocol.versionPath, timeout: timeout)
            .map { response -> String? in
                struct Version: Decodable { var etcdserver: String }
                return (try? JSONDecoder().decode(Version.self, from: Data(response.bodyString.utf8)))?.etcdserver
            }
            .flatMapError { _ in self.fetchVersion(urls: Array(urls.dropFirst()), timeout: timeout) }
    }

    /// `GET <url>/members/hashkv` of a member (etcd's `getPeerHashKVHTTP`), trying each URL
    /// until one answers; every failure is logged as etcd logs it ("failed hash kv request").
    public func fetchHashKV(memberID: UInt64, urls: [String], revision: Int64, timeout: TimeAmount) -> EventLoopFuture<PeerHashKVAnswer> {
        let eventLoop = context.group.next()
        guard let url = urls.first else { return eventLoop.makeSucceededFuture(.failed("no answer from any peer URL")) }
        var body = ByteBufferAllocator().buffer(capacity: 32)
        body.writeString(revision == 0 ? "{}" : "{\"revision\":\(revision)}")
        let context = self.context
        let next: @Sendable (String) -> EventLoopFuture<PeerHashKVAnswer> = { error in
            context.logger.warning("failed hash kv request", metadata: [
                "local-member-id": "\(PeerProtocol.idString(context.services.localID))", "requested-revision": "\(revision)",
                "remote-peer-endpoint": "\(url)", "error": "\(error)",
            ])
            if urls.count > 1 { return self.fetchHashKV(memberID: memberID, urls: Array(urls.dropFirst()), revision: revision, timeout: timeout) }
            return eventLoop.makeSucceededFuture(.failed(error))
        }
        // The cluster ID goes along, as etcd's HashByRev sends it: a member of another cluster on
        // the same URL (a cluster rebuilt in place) refuses with 412 instead of answering a hash.
        let headers = [("Content-Type", "application/json"),
                       (PeerProtocol.Header.clusterID, PeerProtocol.idString(context.services.clusterID))]
        return client.request(url, method: .GET, path: PeerProtocol.hashKVPath, headers: headers,
                              body: body, timeout: timeout)
            .flatMap { response -> EventLoopFuture<PeerHashKVAnswer> in
                let text = response.bodyString
                if response.status == .badRequest {
                    if text.contains("mvcc: required revision has been compacted") { return eventLoop.makeSucceededFuture(.compacted) }
                    if text.contains("mvcc: required revision is a future revision") { return eventLoop.makeSucceededFuture(.futureRevision) }
                }
                if response.status == .preconditionFailed && text.contains("cluster ID mismatch") {
                    return next("etcdserver: cluster ID mismatch")
                }
                guard response.status == .ok else { return next("unknown error: \(text)") }
                guard let hash = PeerProtocol.parseHashKVResponse(Array(text.utf8)) else { return next("malformed HashKV response: \(text)") }
                return eventLoop.makeSucceededFuture(.hash(hash))
            }
            .flatMapError { error in next("\(error)") }
    }

    public func stop() {
        let all = peers.withLock { p -> [RemotePeer] in
            defer { p = [:] }
            return Array(p.values)
        }
        for peer in all { peer.stop() }
        let channels = listeners.withLock { l -> [any Channel] in
            defer { l = [] }
            return l
        }
        for channel in channels { try? channel.close().wait() }
        client.shutdown()
    }
}
