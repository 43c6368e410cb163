import EtcdProto
import Foundation
import NIOCore
import Raft

/// Membership changes as etcd's server makes them (`AddMember`, `RemoveMember`, `UpdateMember`,
/// `PromoteMember` → `configure`): the strict-reconfiguration checks on this member, then a
/// ConfChange through the log, answered once it is applied with the membership as of that entry.
/// A change the apply-time validation refuses fails with its error (and changes nothing on any
/// member). Completions run on the raft thread or the calling thread.
extension EtcdServerCore {
    typealias MembersCompletion = @Sendable (Result<[MemberRecord], EtcdError>) -> Void

    /// etcd's `configure`: proposes `cc` with a fresh ID and answers with the members once it is
    /// applied.
    func configure(_ cc: ConfChange, completion: @escaping MembersCompletion) {
        var cc = cc
        cc.id = nextID()
        let type = cc.type
        let nodeID = cc.nodeID
        raft.propose(Proposal(id: cc.id, data: cc.serializedBytes(), type: .confChange) { [self] result in
            switch result {
            case .success:
                logger.info("applied a configuration change through raft", metadata: [
                    "local-member-id": "\(hex(identity.memberID))", "raft-conf-change": "\(type?.etcdName ?? "unknown")",
                    "raft-conf-change-node-id": "\(hex(nodeID))",
                ])
                completion(.success(membership.current.sortedMembers))
            case .failure(let error):
                completion(.failure(error))
            }
        })
    }

    /// Since when a peer has been connected, in monotonic nanoseconds.
    private func activeSince(_ id: UInt64) -> Int64? {
        peers?.activeSince(id).map { Int64($0.uptimeNanoseconds) }
    }

    private var nowNanoseconds: Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    func addMember(_ member: MemberRecord, completion: @escaping MembersCompletion) {
        if config.strictReconfigCheck, let refusal = ReconfigurationCheck.mayAdd(
            isLearner: member.isLearner, membership.current, selfID: identity.memberID, now: nowNanoseconds, activeSince: activeSince) {
            logger.warning("rejecting member add request", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "requested-member-add": "\(member.json)", "error": "\(refusal.status.message)",
            ])
            return completion(.failure(refusal))
        }
        let cc = ConfChange(type: member.isLearner ? .addLearnerNode : .addNode, nodeID: member.id, context: Array(member.json.utf8))
        configure(cc, completion: completion)
    }

    func removeMember(_ id: UInt64, completion: @escaping MembersCompletion) {
        if config.strictReconfigCheck, let refusal = ReconfigurationCheck.mayRemove(
            id, membership.current, selfID: identity.memberID, now: nowNanoseconds, activeSince: activeSince) {
            logger.warning("rejecting member remove request", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "requested-member-remove-id": "\(hex(id))", "error": "\(refusal.status.message)",
            ])
            return completion(.failure(refusal))
        }
        configure(ConfChange(type: .removeNode, nodeID: id), completion: completion)
    }

    func updateMember(_ id: UInt64, peerURLs: [String], completion: @escaping MembersCompletion) {
        let member = MemberRecord(id: id, peerURLs: peerURLs)
        configure(ConfChange(type: .updateNode, nodeID: id, context: Array(member.json.utf8)), completion: completion)
    }

    /// etcd's `promoteMember` on the leader (which alone knows whether the learner caught up):
    /// `.notLeader` elsewhere, for the caller to forward.
    func promoteMember(_ id: UInt64, completion: @escaping MembersCompletion) {
        raft.inspect { [self] status in
            guard let status else { return completion(.failure(.stopped)) }
            guard status.role == .leader, let leader = status.progress[status.id] else { return completion(.failure(.notLeader)) }
            let learnerMatch = status.progress[MemberID(id)]?.match.rawValue
            guard ReconfigurationCheck.learnerReady(learnerMatch: learnerMatch, leaderMatch: leader.match.rawValue) else {
                return completion(.failure(.learnerNotReady))
            }
            if config.strictReconfigCheck && !ReconfigurationCheck.readyToPromote(membership.current) {
                logger.warning("rejecting member promote request; not enough healthy members", metadata: [
                    "local-member-id": "\(hex(identity.memberID))", "requested-member-remove-id": "\(hex(id))",
                ])
                return completion(.failure(.memberNotEnoughStarted))
            }
            let context = ConfChangeContext(member: MemberRecord(id: id, peerURLs: []), isPromote: true)
            configure(ConfChange(type: .addNode, nodeID: id, context: Array(context.json.utf8)), completion: completion)
        }
    }
}

extension EtcdServerCore {
    /// etcd's `PromoteMember`: on the leader, or forwarded to it over the peer port
    /// (`POST /members/promote/<id>`) until one answers or the request times out.
    func promoteMemberAnywhere(_ id: UInt64, completion: @escaping MembersCompletion) {
        let deadline = Int64(NIODeadline.now().uptimeNanoseconds) + raft.configuration.requestTimeoutNanoseconds
        forwardPromote(id, deadline: deadline, completion: completion)
    }

    /// Time between attempts to reach a leader for a forwarded promotion.
    static let promoteRetryNanoseconds: Int64 = 100_000_000

    /// On this member when it leads, else at the leader's peer URLs; again until the deadline
    /// while there is no leader or it does not answer.
    private func forwardPromote(_ id: UInt64, deadline: Int64, completion: @escaping MembersCompletion) {
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        guard now < deadline else { return completion(.failure(.timeout)) }
        @Sendable func retry() {
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(Self.promoteRetryNanoseconds))) {
                self.forwardPromote(id, deadline: deadline, completion: completion)
            }
        }
        let leaderID = raft.leaderID
        if leaderID == identity.memberID {
            return promoteMember(id) { [self] result in
                if case .failure(.notLeader) = result { forwardPromote(id, deadline: deadline, completion: completion) } else { completion(result) }
            }
        }
        guard leaderID != 0, let urls = membership.current.members[leaderID]?.peerURLs, let peers else { return retry() }
        peers.forwardPromote(id, urls: urls, timeout: .nanoseconds(deadline - now)).whenSuccess { outcome in
            switch outcome {
            case .promoted(let json):
                guard let members = try? JSONDecoder().decode([MemberRecord].self, from: Data(json.utf8)) else {
                    return completion(.failure(.other("member promote: malformed answer from the leader")))
                }
                completion(.success(members.sorted { $0.id < $1.id }))
            case .notFound: completion(.failure(.memberNotFound))
            case .notLearner: completion(.failure(.memberNotLearner))
            case .learnerNotReady: completion(.failure(.learnerNotReady))
            case .timeout, .failed: retry()
            }
        }
    }
}
