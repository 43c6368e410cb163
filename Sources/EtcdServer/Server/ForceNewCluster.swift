import EtcdProto

/// `--force-new-cluster` on a member with data (etcd's `restartAsStandaloneNode`, the disaster
/// recovery of a cluster that lost its quorum): the log's uncommitted tail is discarded, then
/// ConfChange entries that make this member the only one are appended at the current term and
/// counted as committed — adding this member first if the configuration lacks it (raft must never
/// be left without voters), then removing every other member. They are applied like any other
/// entries, so the backend's membership follows, and the member elects itself.
enum ForceNewCluster {
    /// The members the configuration holds once the log's committed entries are applied (etcd's
    /// `getIDs`): those of the applied membership, then each ConfChange in order.
    static func memberIDs(applied: Membership, committedEntries: [Entry]) -> [UInt64] {
        var ids = Set(applied.members.keys)
        for entry in committedEntries where entry.type == .confChange {
            guard let cc = try? ConfChange(serializedBytes: entry.data) else { continue }
            switch cc.type {
            case .addNode?, .addLearnerNode?: ids.insert(cc.nodeID)
            case .removeNode?: ids.remove(cc.nodeID)
            case .updateNode?, nil: break
            }
        }
        return ids.sorted()
    }

    /// etcd's `createConfigChangeEnts`: the entries after `commit` that leave `self` alone.
    static func entries(memberIDs: [UInt64], selfMember: MemberRecord, term: UInt64, commit: UInt64) -> [Entry] {
        var out: [Entry] = []
        var next = commit + 1
        if !memberIDs.contains(selfMember.id) {
            let cc = ConfChange(type: .addNode, nodeID: selfMember.id, context: Array(selfMember.json.utf8))
            out.append(Entry(term: term, index: next, type: .confChange, data: cc.serializedBytes()))
            next += 1
        }
        for id in memberIDs where id != selfMember.id {
            let cc = ConfChange(type: .removeNode, nodeID: id)
            out.append(Entry(term: term, index: next, type: .confChange, data: cc.serializedBytes()))
            next += 1
        }
        return out
    }
}
