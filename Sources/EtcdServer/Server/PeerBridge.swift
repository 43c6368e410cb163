import EtcdProto
import Foundation
import Logging
import NIOCore
import Peer
import MVCC
import Raft
import Storage
import Synchronization

/// Connects the member to its peers: what the peer transport asks of the member (`PeerServices`:
/// raft messages in, membership and version out, leases for forwarded keep-alives) and where
/// raft's outgoing messages go (`RaftMessageSender`). Also keeps the transport's peers equal to
/// the membership's other members. Any thread.
final class PeerBridge: PeerServices, RaftMessageSender, @unchecked Sendable {
    let core: EtcdServerCore
    let localID: UInt64
    let clusterID: UInt64
    let snapshotDirectory: String
    /// Set once, before the transport starts.
    var transport: PeerTransport!
    /// What to do when a peer says this member was removed. Set once, before the transport starts.
    var onRemoved: (@Sendable (_ by: UInt64) -> Void)?
    private let logger: Logger

    init(core: EtcdServerCore, snapshotDirectory: String, logger: Logger) {
        self.core = core
        self.localID = core.identity.memberID
        self.clusterID = core.identity.clusterID
        self.snapshotDirectory = snapshotDirectory
        self.logger = logger
    }

    // MARK: membership → transport

    /// Makes the transport's peers the membership's other members (called at start and after
    /// every membership change).
    func syncPeers(_ membership: Membership) {
        guard let transport else { return }
        let others = membership.members.values.filter { $0.id != localID }
        for member in others { transport.addPeer(member.id, urls: member.peerURLs) }
        let wanted = Set(others.map(\.id))
        for id in transport.peerIDs where !wanted.contains(id) { transport.removePeer(id) }
    }

    // MARK: RaftMessageSender

    func send(_ messages: [Message]) {
        var regular: [Message] = []
        regular.reserveCapacity(messages.count)
        for m in messages {
            if m.type == .snap {
                sendSnapshot(m)
                continue
            }
            regular.append(m)
        }
        if !regular.isEmpty { transport?.send(regular) }
    }

    // MARK: snapshots

    /// Snapshots in flight, by recipient: one at a time per member (raft sends it nothing else
    /// until the outcome is reported).
    private let snapshotsInFlight = Mutex<Set<UInt64>>([])
    private static let snapshotQueue = DispatchQueue(label: "swetcd-snapshot-send", attributes: .concurrent)

    /// etcd's merged snapshot: the backend as it is now (a consistent copy), the metadata of the
    /// index it holds, the membership as etcd's v2 JSON; sent with the file over
    /// `POST /raft/snapshot`. Raft's own MsgSnap only says that one is needed. Off the raft thread.
    private func sendSnapshot(_ m: Message) {
        let to = m.to
        guard snapshotsInFlight.withLock({ $0.insert(to).inserted }) else { return }
        let core = self.core
        let logger = self.logger
        let directory = snapshotDirectory
        Self.snapshotQueue.async { [self] in
            let path = directory + "/send-\(String(to, radix: 16))-\(UUID().uuidString).db"
            @Sendable func finish(_ ok: Bool, _ error: (any Error)? = nil) {
                try? FileManager.default.removeItem(atPath: path)
                try? FileManager.default.removeItem(atPath: path + "-lock")
                snapshotsInFlight.withLock { _ = $0.remove(to) }
                if let error { logger.warning("failed to send database snapshot", metadata: ["remote-peer-id": "\(hex(to))", "error": "\(error)"]) }
                core.raft.reportSnapshot(to, status: ok ? .finished : .failed)
            }
            do {
                try core.store.environment.copy(to: path, compact: true)
                let (meta, membership) = try Self.describe(backendCopy: path)
                var message = m
                message.snapshot = Snapshot(
                    data: Array(V2StoreSnapshot.json(membership).utf8),
                    metadata: SnapshotMetadata(confState: membership.confState, index: meta.appliedIndex, term: meta.appliedTerm))
                logger.info("sending database snapshot", metadata: [
                    "remote-peer-id": "\(hex(to))", "snapshot-index": "\(meta.appliedIndex)",
                    "bytes": "\((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)",
                ])
                guard let transport else { return finish(false) }
                transport.sendSnapshot(message, dbPath: path).whenComplete { result in
                    switch result {
                    case .success:
                        logger.info("sent database snapshot", metadata: ["remote-peer-id": "\(hex(to))", "snapshot-index": "\(meta.appliedIndex)"])
                        finish(true)
                    case .failure(let error):
                        finish(false, error)
                    }
                }
            } catch {
                finish(false, error)
            }
        }
    }

    /// The applied index and term, and the membership, a copy of the backend holds.
    private static func describe(backendCopy path: String) throws -> (MVCCMeta, Membership) {
        let env = try LMDBEnvironment(path: path, mapSizeBytes: EtcdServer.mapSizeMinBytes, maxReaders: 4, maxDatabases: 16)
        defer { env.close() }
        let store = try MVCCStore(environment: env)
        return (store.meta, try MembershipStore(store: store).current)
    }

    // MARK: PeerServices

    func process(_ message: Message) -> PeerProcessOutcome {
        if core.membership.current.removed.contains(message.from) { return .fromRemovedMember }
        if message.to != localID { return .wrongRecipient }
        core.raft.step(message)
        return .accepted
    }

    func isRemoved(_ id: UInt64) -> Bool { core.membership.current.removed.contains(id) }

    func removedFromCluster(by remote: UInt64) { onRemoved?(remote) }

    func reportUnreachable(_ id: UInt64) { core.raft.reportUnreachable(id) }

    func reportSnapshot(_ id: UInt64, succeeded: Bool) { core.raft.reportSnapshot(id, status: succeeded ? .finished : .failed) }

    func membersJSON() -> String {
        "[" + core.membership.current.sortedMembers.map(\.json).joined(separator: ",") + "]"
    }

    func versionJSON() -> String { HTTPEndpoints.versionJSON(core) }

    func leaseRenew(_ request: LeaseKeepAliveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseKeepAliveResponse>) -> Void) {
        let id = request.id
        let outcome = core.lessor.renew(id) { settled in done(Self.renewResult(id, settled)) }
        if let outcome { done(Self.renewResult(id, outcome)) }
    }

    private static func renewResult(_ id: Int64, _ outcome: Lessor.RenewOutcome) -> LeaseForwardResult<LeaseKeepAliveResponse> {
        switch outcome {
        case .renewed(let ttl): .ok(LeaseKeepAliveResponse(header: nil, id: id, ttl: ttl))
        case .notFound, .expired: .notFound
        case .notPrimary: .failed("not a primary lessor")
        }
    }

    func leaseTimeToLive(_ request: LeaseTimeToLiveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseTimeToLiveResponse>) -> Void) {
        guard core.lessor.isPrimary else { return done(.failed("not a primary lessor")) }
        guard core.lessor.timeToLive(request.id) != nil else { return done(.notFound) }
        switch LeaseService.timeToLive(request, server: core, store: core.leaseStore) {
        case .success(var response):
            response.header = ResponseHeader(clusterID: 0, memberID: 0, revision: 0, raftTerm: 0)
            done(.ok(response))
        case .failure(let error):
            done(.failed(error.status.message))
        }
    }

    func hashKV(revision: Int64, _ done: @escaping @Sendable (Result<PeerHashKV, PeerServiceError>) -> Void) {
        core.hashKV(revision: revision) { result in
            switch result {
            case .success(let h):
                done(.success(PeerHashKV(hash: h.hash, compactRevision: h.compactRevision, revision: h.currentRevision)))
            case .failure(let error):
                // etcd answers with the mvcc error's own text ("mvcc: required revision ...").
                var text = error.status.message
                if text.hasPrefix("etcdserver: mvcc: ") { text.removeFirst("etcdserver: ".count) }
                done(.failure(PeerServiceError(text)))
            }
        }
    }

    func downgradeEnabled(_ done: @escaping @Sendable (Result<Bool, PeerServiceError>) -> Void) {
        core.whenReadable(serializable: false) { result in
            switch result {
            case .success: done(.success(self.core.membership.current.downgrade != nil))
            case .failure(let error): done(.failure(PeerServiceError(error.status.message)))
            }
        }
    }

    func promoteMember(_ id: UInt64, _ done: @escaping @Sendable (PeerPromoteOutcome) -> Void) {
        core.promoteMember(id) { result in
            switch result {
            case .success(let members): done(.promoted(membersJSON: "[" + members.map(\.json).joined(separator: ",") + "]"))
            case .failure(.memberNotFound): done(.notFound)
            case .failure(.memberNotLearner): done(.notLearner)
            case .failure(.learnerNotReady): done(.learnerNotReady)
            case .failure(.timeout), .failure(.timeoutDueToLeaderFail), .failure(.timeoutDueToConnectionLost): done(.timeout)
            case .failure(let error): done(.failed(error.status.message))
            }
        }
    }

    func snapshotReceived(_ message: Message, dbPath: String) -> PeerProcessOutcome {
        logger.info("received and saved database snapshot", metadata: [
            "remote-peer-id": "\(hex(message.from))", "snapshot-index": "\(message.snapshot.metadata.index)", "path": "\(dbPath)",
        ])
        return process(message)
    }
}
