/// Joining a running cluster with `--initial-cluster-state existing` (etcd's
/// `bootstrapExistingClusterNoWAL`): the members `--initial-cluster` names must be exactly the
/// cluster's members, matched by peer URLs; each takes the ID the cluster gave it
/// (`ValidateClusterAndAssignIDs`), and this member's is its own.
///
/// The new member then starts with an empty log and no configuration: the leader sends it the log
/// (or a snapshot of the backend when the log it needs is gone), and it applies its own addition
/// like every other entry.
enum ClusterJoin {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// This member's ID in `existing`, the cluster's members as `GET /members` listed them.
    static func assignIDs(local: [MemberRecord], existing: [MemberRecord], name: String, clusterID: UInt64) throws(Failure) -> UInt64 {
        let cluster = "{ClusterID:\(hex(clusterID)) Members:[\(existing.map { "\(hex($0.id))=\($0.peerURLs)" }.joined(separator: " "))]}"
        guard existing.count == local.count else {
            throw Failure(description: "error validating peerURLs \(cluster): member count is unequal")
        }
        var assigned = local
        for member in existing {
            guard let i = assigned.firstIndex(where: { $0.peerURLs.sorted() == member.peerURLs.sorted() }) else {
                throw Failure(description: "error validating peerURLs \(cluster): PeerURLs: no match found for existing member (\(hex(member.id)), \(member.peerURLs)), last resolver error (<nil>)")
            }
            assigned[i].id = member.id
        }
        guard let me = assigned.first(where: { $0.name == name }) else {
            throw Failure(description: "couldn't find local name \"\(name)\" in the initial cluster configuration")
        }
        return me.id
    }
}
