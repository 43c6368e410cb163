import EtcdProto
import Foundation
import Logging
import NIOCore
import Peer
import Raft

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
                // Snapshots travel with the backend file (`POST /raft/snapshot`); until this member
                // can send one, raft hears that it failed and tries again later.
                logger.warning("cannot send a snapshot to a peer yet", metadata: ["remote-peer-id": "\(hex(m.to))"])
                core.raft.reportSnapshot(m.to, status: .failed)
                continue
            }
            regular.append(m)
        }
        if !regular.isEmpty { transport?.send(regular) }
    }

    // MARK: PeerServices

    func process(_ message: Message) -> PeerProcessOutcome {
        if core.membership.current.removed.contains(message.from) { return .fromRemovedMember }
        if message.to != localID { return .wrongRecipient }
        core.raft.step(message)
        return .accepted
    }

    func isRemoved(_ id: UInt64) -> Bool { core.membership.current.removed.contains(id) }

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

    func snapshotReceived(_ message: Message, dbPath: String) -> PeerProcessOutcome {
        process(message)
    }
}
