import EtcdProto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Transport

/// One connection on the peer port: etcd 3.5's peer HTTP handlers (`rafthttp/http.go`,
/// `etcdhttp/peer.go`, `leasehttp`), request by request, with etcd's status codes and bodies.
/// Bodies are streamed: a pipeline message is gathered up to `pipelineBodyBytesMax`, a snapshot's
/// backend file goes to disk as it arrives. A stream GET turns the connection into that stream's
/// writer for as long as it lives.
///
/// Threading: the channel's event loop only.
final class PeerServerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A pipeline POST's body, at most: raft sends at most 1 MiB of entries per message, plus
    /// one entry of at most `--max-request-bytes`; etcd sets no total limit.
    static let pipelineBodyBytesMax = 64 << 20
    /// A lease request's body, at most (etcd 3.5.33's limit).
    static let leaseBodyBytesMax = 64 << 10

    private let transport: PeerTransport
    private let services: any PeerServices
    private let logger: Logger

    private enum Request {
        case idle
        /// Gathering a body to handle at its end.
        case gathering(HTTPRequestHead, ByteBuffer, limit: Int, route: Route)
        /// Receiving a snapshot: the message first, then the backend file.
        case snapshot(SnapshotReceiver)
        /// The connection serves a stream now; nothing more is read.
        case streaming
        /// A body to drop (the answer was already given).
        case discarding
    }

    private enum Route {
        case pipeline
        case leases
        case leasesInternal
        case hashKV
    }

    /// `GET /members/hashkv`'s body (`{"revision":N}`), at most.
    static let hashKVBodyBytesMax = 4 << 10

    private var request: Request = .idle

    init(transport: PeerTransport, services: any PeerServices, logger: Logger) {
        self.transport = transport
        self.services = services
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestStarted(head, context: context)
        case .body(var bytes):
            switch request {
            case .gathering(let head, var body, let limit, let route):
                guard body.readableBytes + bytes.readableBytes <= limit else {
                    request = .discarding
                    respondError(context, route == .pipeline ? .badRequest : .payloadTooLarge,
                                 route == .pipeline ? "error reading raft message" : "request body too large", close: true)
                    return
                }
                body.writeBuffer(&bytes)
                request = .gathering(head, body, limit: limit, route: route)
            case .snapshot(let receiver):
                if let failure = receiver.receive(&bytes) {
                    request = .discarding
                    respondError(context, failure.status, failure.message, close: true)
                }
            case .idle, .streaming, .discarding:
                break
            }
        case .end:
            switch request {
            case .gathering(let head, let body, _, let route):
                request = .idle
                requestEnded(head, body, route: route, context: context)
            case .snapshot(let receiver):
                request = .idle
                snapshotEnded(receiver, context: context)
            case .discarding:
                request = .idle
            case .idle, .streaming:
                break
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .snapshot(let receiver) = request { receiver.abandon() }
        request = .idle
        context.fireChannelInactive()
    }

    // MARK: routing

    private func requestStarted(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case PeerProtocol.raftPath:
            guard head.method == .POST else { return methodNotAllowed(context, allow: "POST") }
            guard checkCompatibility(head, context: context, extra: [clusterHeader]) else { return }
            addRemote(from: head)
            request = .gathering(head, context.channel.allocator.buffer(capacity: 0), limit: Self.pipelineBodyBytesMax, route: .pipeline)
        case PeerProtocol.snapshotPath:
            guard head.method == .POST else { return methodNotAllowed(context, allow: "POST") }
            guard checkCompatibility(head, context: context, extra: [clusterHeader]) else { return }
            addRemote(from: head)
            request = .snapshot(SnapshotReceiver(directory: services.snapshotDirectory, allocator: context.channel.allocator))
        case PeerProtocol.probingPath:
            request = .discarding
            let now = Self.goTime(Date())
            respond(context, .ok, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "{\"OK\":true,\"Now\":\"\(now)\"}\n")
        case PeerProtocol.membersPath:
            guard head.method == .GET else { return methodNotAllowed(context, allow: "GET") }
            request = .discarding
            respond(context, .ok, headers: [("Content-Type", "application/json"), (PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID))],
                    body: services.membersJSON() + "\n")
        case PeerProtocol.versionPath:
            guard head.method == .GET else { return methodNotAllowed(context, allow: "GET") }
            request = .discarding
            respond(context, .ok, headers: [("Content-Type", "application/json")], body: services.versionJSON())
        case PeerProtocol.leasesPath, PeerProtocol.leasesInternalPath:
            guard head.method == .POST else {
                // etcd's lease handler answers 405 without an Allow header.
                request = .discarding
                return respondError(context, .methodNotAllowed, "Method Not Allowed")
            }
            request = .gathering(head, context.channel.allocator.buffer(capacity: 0), limit: Self.leaseBodyBytesMax,
                                 route: path == PeerProtocol.leasesPath ? .leases : .leasesInternal)
        case PeerProtocol.hashKVPath:
            // etcd's hashKVHandler (its corruption checks ask every peer).
            guard head.method == .GET else { return methodNotAllowed(context, allow: "GET") }
            if let remote = head.headers.first(name: PeerProtocol.Header.clusterID), !remote.isEmpty,
               remote != PeerProtocol.idString(services.clusterID) {
                request = .discarding
                return respondError(context, .preconditionFailed, "cluster ID mismatch")
            }
            request = .gathering(head, context.channel.allocator.buffer(capacity: 0), limit: Self.hashKVBodyBytesMax, route: .hashKV)
        case PeerProtocol.downgradeEnabledPath:
            // etcd's downgradeEnabledHandler: after a linearizable read, whether a downgrade is
            // in progress (never, here: swetcd has no downgrade). A joining etcd member asks it.
            guard head.method == .GET else { return methodNotAllowed(context, allow: "GET") }
            request = .discarding
            let eventLoop = context.eventLoop
            let boxed = NIOLoopBound((self, context), eventLoop: eventLoop)
            services.downgradeEnabled { result in
                eventLoop.execute {
                    let (handler, context) = boxed.value
                    switch result {
                    case .success(let enabled):
                        handler.respond(context, .ok, headers: [handler.clusterHeader, ("Content-Type", "text/plain")], body: "\(enabled)")
                    case .failure(let error):
                        handler.respondError(context, .internalServerError, "failed linearized read: \(error.message)", extra: [handler.clusterHeader])
                    }
                }
            }
        default:
            if path.hasPrefix(PeerProtocol.memberPromotePrefix) {
                promoteRequested(head, id: path.dropFirst(PeerProtocol.memberPromotePrefix.count), context: context)
            } else if path.hasPrefix("/raft/stream/") {
                streamRequested(head, path: path, context: context)
            } else {
                request = .discarding
                respondError(context, .notFound, "404 page not found")
            }
        }
    }

    /// etcd's `peerMemberPromoteHandler`: the ID in decimal; the members as JSON on success;
    /// 404/412 with membership's error text; 500 (etcd's JSON error) for anything else.
    private func promoteRequested(_ head: HTTPRequestHead, id text: Substring, context: ChannelHandlerContext) {
        guard head.method == .POST else { return methodNotAllowed(context, allow: "POST") }
        request = .discarding
        guard let id = UInt64(text) else {
            return respondError(context, .notFound, "member \(text) not found in cluster", extraCluster: true)
        }
        let eventLoop = context.eventLoop
        let boxed = NIOLoopBound((self, context), eventLoop: eventLoop)
        services.promoteMember(id) { outcome in
            eventLoop.execute {
                let (handler, context) = boxed.value
                switch outcome {
                case .promoted(let json):
                    handler.respond(context, .ok, headers: [handler.clusterHeader, ("Content-Type", "application/json")], body: json + "\n")
                case .notFound:
                    handler.respondError(context, .notFound, PeerProtocol.ErrorText.idNotFound, extraCluster: true)
                case .notLearner:
                    handler.respondError(context, .preconditionFailed, PeerProtocol.ErrorText.memberNotLearner, extraCluster: true)
                case .learnerNotReady:
                    handler.respondError(context, .preconditionFailed, PeerProtocol.ErrorText.learnerNotReady, extraCluster: true)
                case .timeout:
                    handler.respondError(context, .requestTimeout, "etcdserver: request timed out", extraCluster: true)
                case .failed:
                    handler.respond(context, .internalServerError, headers: [handler.clusterHeader, ("Content-Type", "application/json")],
                                    body: "{\"message\":\"Internal Server Error\"}")
                }
            }
        }
    }

    private var clusterHeader: (String, String) { (PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID)) }

    private func methodNotAllowed(_ context: ChannelHandlerContext, allow: String) {
        request = .discarding
        respondError(context, .methodNotAllowed, "Method Not Allowed", extra: [("Allow", allow)])
    }

    /// 412 (or a dropped connection for a malformed version) unless the remote is compatible.
    private func checkCompatibility(_ head: HTTPRequestHead, context: ChannelHandlerContext, extra: [(String, String)] = []) -> Bool {
        switch PeerProtocol.checkCompatibility(head.headers, clusterID: services.clusterID) {
        case .compatible:
            return true
        case .incompatibleVersion:
            request = .discarding
            respondError(context, .preconditionFailed, "incompatible version", extra: extra)
        case .clusterIDMismatch:
            request = .discarding
            logger.warning("request from a peer of another cluster", metadata: [
                "local-member-cluster-id": "\(PeerProtocol.idString(services.clusterID))",
                "remote-peer-cluster-id": "\(head.headers.first(name: PeerProtocol.Header.clusterID) ?? "")",
            ])
            respondError(context, .preconditionFailed, "cluster ID mismatch", extra: extra)
        case .malformedVersion:
            request = .discarding
            context.close(promise: nil)
        }
        return false
    }

    /// etcd's `addRemoteFromRequest`: a sender we do not know, with peer URLs, is remembered so
    /// that our answers (a pipeline) can reach it.
    private func addRemote(from head: HTTPRequestHead) {
        guard let from = head.headers.first(name: PeerProtocol.Header.serverFrom).flatMap({ PeerProtocol.parseID(Substring($0)) }),
            let urls = head.headers.first(name: PeerProtocol.Header.peerURLs), !urls.isEmpty
        else { return }
        transport.addRemote(from, urls: urls.split(separator: ",").map(String.init))
    }

    // MARK: streams

    private func streamRequested(_ head: HTTPRequestHead, path: String, context: ChannelHandlerContext) {
        guard head.method == .GET else { return methodNotAllowed(context, allow: "GET") }
        let headers: [(String, String)] = [
            (PeerProtocol.Header.serverVersion, PeerProtocol.serverVersion),
            (PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID)),
        ]
        guard checkCompatibility(head, context: context, extra: headers) else { return }
        // etcd's streamHandler: the directory names the stream type, the last element the sender.
        let slash = path.lastIndex(of: "/")!
        let directory = path[..<slash]
        let fromText = path[path.index(after: slash)...]
        let type: StreamType
        switch directory + "/" {
        case PeerProtocol.streamMsgAppPrefix: type = .msgApp
        case PeerProtocol.streamMessagePrefix: type = .message
        default:
            request = .discarding
            return respondError(context, .notFound, "invalid path", extra: headers)
        }
        guard let from = PeerProtocol.parseID(fromText) else {
            request = .discarding
            return respondError(context, .notFound, "invalid from", extra: headers)
        }
        if services.isRemoved(from) {
            request = .discarding
            return respondError(context, .gone, "removed member", extra: headers)
        }
        guard transport.hasPeer(from) else {
            addRemote(from: head)
            request = .discarding
            return respondError(context, .notFound, "error sender not found", extra: headers)
        }
        guard head.headers.first(name: PeerProtocol.Header.raftTo) == PeerProtocol.idString(services.localID) else {
            request = .discarding
            return respondError(context, .preconditionFailed, "to field mismatch", extra: headers)
        }
        request = .streaming
        var responseHead = HTTPResponseHead(version: .http1_1, status: .ok)
        for (name, value) in headers { responseHead.headers.add(name: name, value: value) }
        responseHead.headers.add(name: "Date", value: Self.httpDate())
        responseHead.headers.add(name: "Transfer-Encoding", value: "chunked")
        context.writeAndFlush(wrapOutboundOut(.head(responseHead)), promise: nil)
        let writer = StreamWriter(type: type, channel: context.channel, remoteID: from, metrics: transport.metrics)
        writer.start()
        transport.attach(writer, from: from)
    }

    // MARK: bodies

    private func requestEnded(_ head: HTTPRequestHead, _ body: ByteBuffer, route: Route, context: ChannelHandlerContext) {
        switch route {
        case .pipeline:
            let message: Message
            let sender = head.headers.first(name: PeerProtocol.Header.serverFrom).flatMap { PeerProtocol.parseID(Substring($0)) } ?? 0
            do {
                message = try body.withUnsafeReadableBytes { raw throws(ProtoDecodingError) in try Message(decoding: raw) }
            } catch {
                transport.metrics?.receiveFailed(from: sender)
                return respondError(context, .badRequest, "error unmarshalling raft message", extraCluster: true)
            }
            transport.metrics?.received(from: message.from, bytes: body.readableBytes)
            switch services.process(message) {
            case .accepted:
                respond(context, .noContent, headers: [(PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID))], body: nil)
            case .fromRemovedMember, .wrongRecipient, .failed:
                // etcd's answer for any failure to process (its 403 path cannot be reached).
                respondError(context, .internalServerError, "error processing raft message", extraCluster: true)
            }
        case .leases:
            let request: LeaseKeepAliveRequest
            do {
                request = try LeaseKeepAliveRequest(serializedBytes: Array(buffer: body))
            } catch {
                return respondError(context, .badRequest, "error unmarshalling request")
            }
            let eventLoop = context.eventLoop
            let boxed = NIOLoopBound((self, context), eventLoop: eventLoop)
            services.leaseRenew(request) { result in
                eventLoop.execute {
                    let (handler, context) = boxed.value
                    handler.respondLease(context, result) { $0.serializedBytes() }
                }
            }
        case .hashKV:
            let revision: Int64
            do {
                revision = try PeerProtocol.hashKVRequestRevision(Array(buffer: body))
            } catch {
                return respondError(context, .badRequest, "error unmarshalling request")
            }
            let eventLoop = context.eventLoop
            let boxed = NIOLoopBound((self, context), eventLoop: eventLoop)
            services.hashKV(revision: revision) { result in
                eventLoop.execute {
                    let (handler, context) = boxed.value
                    switch result {
                    case .success(let hash):
                        handler.respond(context, .ok, headers: [handler.clusterHeader, ("Content-Type", "application/json")],
                                        body: PeerProtocol.hashKVResponseJSON(hash))
                    case .failure(let error):
                        handler.respondError(context, .badRequest, error.message)
                    }
                }
            }
        case .leasesInternal:
            let internalRequest: LeaseInternalRequest
            do {
                internalRequest = try LeaseInternalRequest(serializedBytes: Array(buffer: body))
            } catch {
                return respondError(context, .badRequest, "error unmarshalling request")
            }
            guard let request = internalRequest.leaseTimeToLiveRequest else {
                return respondError(context, .badRequest, "error unmarshalling request")
            }
            let eventLoop = context.eventLoop
            let boxed = NIOLoopBound((self, context), eventLoop: eventLoop)
            services.leaseTimeToLive(request) { result in
                eventLoop.execute {
                    let (handler, context) = boxed.value
                    handler.respondLease(context, result) { response in
                        LeaseInternalResponse(leaseTimeToLiveResponse: response).serializedBytes()
                    }
                }
            }
        }
    }

    private func respondLease<R>(_ context: ChannelHandlerContext, _ result: LeaseForwardResult<R>, encode: (R) -> [UInt8]) {
        switch result {
        case .ok(let response):
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeBytes(encode(response))
            respond(context, .ok, headers: [("Content-Type", "application/protobuf")], bodyBuffer: buffer)
        case .notFound:
            respondError(context, .notFound, "lease not found")
        case .timeout:
            respondError(context, .requestTimeout, "waiting for node to catch up its applied index has timed out")
        case .failed(let text):
            respondError(context, .badRequest, text)
        }
    }

    private func snapshotEnded(_ receiver: SnapshotReceiver, context: ChannelHandlerContext) {
        let clusterHeader = [(PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID))]
        switch receiver.finish() {
        case .failure(let failure):
            respondError(context, failure.status, failure.message, extraCluster: true)
        case .success(let (message, path)):
            switch services.snapshotReceived(message, dbPath: path) {
            case .accepted:
                respond(context, .noContent, headers: clusterHeader, body: nil)
            case .fromRemovedMember:
                respondError(context, .internalServerError, "failed to process raft message (cannot process message from removed member)", extraCluster: true)
            case .wrongRecipient:
                respondError(context, .internalServerError, "failed to process raft message (cannot process message to mismatch member)", extraCluster: true)
            case .failed(let why):
                respondError(context, .internalServerError, "failed to process raft message (\(why))", extraCluster: true)
            }
        }
    }

    // MARK: responses

    /// Go's `http.Error`: text/plain, nosniff, the message and a newline.
    private func respondError(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ message: String,
                              extra: [(String, String)] = [], extraCluster: Bool = false, close: Bool = false) {
        var headers = extra
        if extraCluster { headers.append((PeerProtocol.Header.clusterID, PeerProtocol.idString(services.clusterID))) }
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
        headers.append(("X-Content-Type-Options", "nosniff"))
        respond(context, status, headers: headers, body: message + "\n", close: close)
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, headers: [(String, String)], body: String?, close: Bool = false) {
        var buffer = context.channel.allocator.buffer(capacity: body?.utf8.count ?? 0)
        if let body { buffer.writeString(body) }
        respond(context, status, headers: headers, bodyBuffer: buffer, close: close)
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, headers: [(String, String)], bodyBuffer: ByteBuffer, close: Bool = false) {
        var head = HTTPResponseHead(version: .http1_1, status: status)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Date", value: Self.httpDate())
        if status != .noContent { head.headers.add(name: "Content-Length", value: "\(bodyBuffer.readableBytes)") }
        if close { head.headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if status != .noContent && bodyBuffer.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(bodyBuffer))), promise: nil)
        }
        if close {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Go's `Date` header (`http.TimeFormat`): "Mon, 07 Dec 2026 18:00:00 GMT".
    static func httpDate(_ now: time_t = time(nil)) -> String {
        var t = now
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Go's `time.Time` JSON: RFC 3339 with nanoseconds, trailing zeros trimmed, UTC as `Z`.
    static func goTime(_ date: Date) -> String {
        let seconds = floor(date.timeIntervalSince1970)
        let nanos = Int((date.timeIntervalSince1970 - seconds) * 1e9)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        var text = formatter.string(from: Date(timeIntervalSince1970: seconds))
        if nanos > 0 {
            var fraction = String(format: "%09d", nanos)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text = String(text.dropLast()) + "." + fraction + "Z"
        }
        return text
    }
}

/// A snapshot POST being received (`rafthttp/http.go: snapshotHandler`): the 8-byte length and
/// the MsgSnap message, then the backend file, written to a temporary file in the snap dir and
/// renamed to `%016x.snap.db` once complete and synced. Event loop only.
final class SnapshotReceiver {
    struct Failure: Error {
        var status: HTTPResponseStatus
        var message: String
    }

    /// The message part of a snapshot, at most (it carries the v2 store's JSON).
    static let messageBytesMax: UInt64 = 512 << 20

    private let directory: String
    private var header: ByteBuffer
    private var message: Message?
    private var file: FileHandle?
    private var tempPath: String?
    private var failed: Failure?

    init(directory: String, allocator: ByteBufferAllocator) {
        self.directory = directory
        self.header = allocator.buffer(capacity: 1024)
    }

    /// Takes body bytes; returns a failure to answer (the rest of the body is then dropped).
    func receive(_ bytes: inout ByteBuffer) -> Failure? {
        if failed != nil { return nil }
        if message == nil {
            header.writeBuffer(&bytes)
            guard let length = header.getInteger(at: header.readerIndex, endianness: .big, as: UInt64.self) else { return nil }
            guard length <= Self.messageBytesMax else { return fail(.badRequest, "failed to decode raft message (rafthttp: error limit exceeded)") }
            guard header.readableBytes >= 8 + Int(length) else { return nil }
            header.moveReaderIndex(forwardBy: 8)
            let slice = header.readSlice(length: Int(length))!
            guard let m = try? slice.withUnsafeReadableBytes({ raw throws(ProtoDecodingError) in try Message(decoding: raw) }) else {
                return fail(.badRequest, "failed to decode raft message (proto: malformed message)")
            }
            guard m.type == .snap else { return fail(.badRequest, "wrong raft message type") }
            message = m
            let path = directory + "/tmp-\(UUID().uuidString).snap.db"
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                return fail(.internalServerError, "failed to save KV snapshot (cannot create \(path))")
            }
            tempPath = path
            file = handle
            bytes = header
            header.clear()
        }
        guard let file else { return nil }
        do {
            try bytes.withUnsafeReadableBytes { raw in try file.write(contentsOf: raw) }
        } catch {
            return fail(.internalServerError, "failed to save KV snapshot (\(error))")
        }
        return nil
    }

    private func fail(_ status: HTTPResponseStatus, _ text: String) -> Failure {
        let failure = Failure(status: status, message: text)
        failed = failure
        abandon()
        return failure
    }

    /// The body ended: the message and the path of the saved backend file.
    func finish() -> Result<(Message, String), Failure> {
        if let failed { return .failure(failed) }
        guard let message, let file, let tempPath else {
            // Go's binary.Read: EOF when nothing came, unexpected EOF when part of it did.
            let reason = header.readableBytes == 0 ? "EOF" : "unexpected EOF"
            return .failure(Failure(status: .badRequest, message: "failed to decode raft message (\(reason))"))
        }
        do {
            try file.synchronize()
            try file.close()
            self.file = nil
            let final = directory + "/" + String(format: "%016llx.snap.db", message.snapshot.metadata.index)
            if FileManager.default.fileExists(atPath: final) {
                // etcd keeps the file it already has.
                try? FileManager.default.removeItem(atPath: tempPath)
            } else {
                try FileManager.default.moveItem(atPath: tempPath, toPath: final)
            }
            self.tempPath = nil
            return .success((message, final))
        } catch {
            abandon()
            return .failure(Failure(status: .internalServerError, message: "failed to save KV snapshot (\(error))"))
        }
    }

    /// The body will not complete: drop the partial file.
    func abandon() {
        try? file?.close()
        file = nil
        if let tempPath { try? FileManager.default.removeItem(atPath: tempPath) }
        tempPath = nil
    }
}
