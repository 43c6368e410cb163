import EtcdProto
import Foundation
import MVCC

/// Membership changes at apply time, inside the batch's transaction: ConfChange entries
/// (`RaftCluster.ValidateConfigurationChange` then `AddMember`/`PromoteMember`/`RemoveMember`/
/// `UpdateRaftAttributes`), the attributes members publish and the cluster version.
///
/// A change that fails validation changes nothing here and reaches raft as a no-op (node ID 0), as
/// in etcd; the check depends only on the membership, which every member shares at that index,
/// so every member refuses the same change.
enum MembershipApplier {
    /// etcd's learner limit (`maxLearners`).
    static let learnersMax = 1

    /// Validates and applies `cc`; returns the change to hand to raft (node ID 0 when refused)
    /// and the refusal, if any.
    static func apply(_ cc: ConfChange, txn: MVCCWriteTxn) throws -> (ConfChange, EtcdError?) {
        var membership = try MembershipStore.load(txn)
        var noop = cc
        noop.nodeID = 0
        switch validate(cc, membership) {
        case .failure(let refusal):
            return (noop, refusal)
        case .success(let context):
            let id = cc.nodeID
            switch cc.type {
            case .addNode?, .addLearnerNode?:
                guard let context else { return (noop, .other("etcdserver: conf change without a member context")) }
                if context.isPromote {
                    membership.members[id]?.isLearner = false
                } else {
                    var member = context.member
                    member.isLearner = cc.type == .addLearnerNode || member.isLearner
                    membership.members[id] = member
                }
            case .removeNode?:
                membership.members[id] = nil
                membership.removed.insert(id)
            case .updateNode?:
                if let urls = context?.member.peerURLs { membership.members[id]?.peerURLs = urls }
            case nil:
                return (noop, .other("etcdserver: unknown conf change type \(cc.typeRaw)"))
            }
            try MembershipStore.save(membership, txn)
            return (cc, nil)
        }
    }

    /// etcd's `ValidateConfigurationChange`, with etcd's errors as its gRPC layer maps them.
    /// Returns the decoded context of an add/promote/update.
    static func validate(_ cc: ConfChange, _ membership: Membership) -> Result<ConfChangeContext?, EtcdError> {
        let id = cc.nodeID
        // No member has ID 0 (raft reserves it for "none"): removing, updating or promoting it
        // answers what etcd answers for any unknown ID, and nothing adds it.
        if id == 0 { return .failure(.memberNotFound) }
        if membership.removed.contains(id) { return .failure(.memberNotFound) }
        switch cc.type {
        case .addNode?, .addLearnerNode?:
            guard let context = ConfChangeContext.decode(cc.context), context.member.id == id else {
                return .failure(.other("etcdserver: malformed conf change context"))
            }
            if context.isPromote {
                guard let existing = membership.members[id] else { return .failure(.memberNotFound) }
                if !existing.isLearner { return .failure(.memberNotLearner) }
            } else {
                if membership.members[id] != nil { return .failure(.memberExists) }
                let taken = Set(membership.members.values.flatMap(\.peerURLs))
                if context.member.peerURLs.contains(where: taken.contains) { return .failure(.peerURLExists) }
                if context.member.isLearner || cc.type == .addLearnerNode {
                    if membership.members.values.filter(\.isLearner).count + 1 > learnersMax { return .failure(.tooManyLearners) }
                }
            }
            return .success(context)
        case .removeNode?:
            if membership.members[id] == nil { return .failure(.memberNotFound) }
            return .success(nil)
        case .updateNode?:
            if membership.members[id] == nil { return .failure(.memberNotFound) }
            guard let context = ConfChangeContext.decode(cc.context) else {
                return .failure(.other("etcdserver: malformed conf change context"))
            }
            let taken = Set(membership.members.values.filter { $0.id != id }.flatMap(\.peerURLs))
            if context.member.peerURLs.contains(where: taken.contains) { return .failure(.peerURLExists) }
            return .success(context)
        case nil:
            return .failure(.other("etcdserver: unknown conf change type \(cc.typeRaw)"))
        }
    }

    /// A member's published name and client URLs (`PUT /0/members/<hex>/attributes`, or 3.5's
    /// `ClusterMemberAttrSetRequest`). A member that is not (or no longer) in the cluster is
    /// ignored, as etcd ignores it.
    static func applyAttributes(memberID: UInt64, _ attributes: MemberAttributes, txn: MVCCWriteTxn) throws {
        var membership = try MembershipStore.load(txn)
        guard membership.members[memberID] != nil else { return }
        membership.members[memberID]!.name = attributes.name
        membership.members[memberID]!.clientURLs = attributes.clientURLs
        try MembershipStore.save(membership, txn)
    }

    /// The cluster version the leader settled (`PUT /0/version`, or `ClusterVersionSetRequest`).
    /// Only `major.minor.patch` versions are taken (etcd panics on anything else).
    static func applyClusterVersion(_ version: String, txn: MVCCWriteTxn) throws {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return }
        var membership = try MembershipStore.load(txn)
        membership.clusterVersion = version
        try MembershipStore.save(membership, txn)
    }

    /// `DowngradeInfoSetRequest` (etcd's `applyV3Internal.DowngradeInfoSet`): enabled with its
    /// target version, or none.
    static func applyDowngradeInfo(_ set: DowngradeInfoSetRequest, txn: MVCCWriteTxn) throws {
        var membership = try MembershipStore.load(txn)
        membership.downgrade = set.enabled ? DowngradeInfo(targetVersion: set.ver) : nil
        try MembershipStore.save(membership, txn)
    }

    /// The v2 requests etcd 3.4/3.5 members put in the log: `PUT /0/members/<hex>/attributes`
    /// and `PUT /0/version`. Anything else a v2 request may carry has no state here.
    static func apply(_ request: V2Request, txn: MVCCWriteTxn) throws {
        guard request.method == "PUT" else { return }
        if request.path == "/0/version" {
            try applyClusterVersion(request.val, txn: txn)
            return
        }
        let prefix = "/0/members/", suffix = "/attributes"
        guard request.path.hasPrefix(prefix), request.path.hasSuffix(suffix) else { return }
        let hexID = request.path.dropFirst(prefix.count).dropLast(suffix.count)
        guard (1...16).contains(hexID.count), let id = UInt64(hexID, radix: 16),
            let attributes = try? JSONDecoder().decode(MemberAttributes.self, from: Data(request.val.utf8))
        else { return }
        try applyAttributes(memberID: id, attributes, txn: txn)
    }
}
