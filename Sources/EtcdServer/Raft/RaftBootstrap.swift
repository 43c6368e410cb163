import EtcdProto

/// How a new cluster's log starts (etcd's `startNode` → `RawNode.Bootstrap`): every initial
/// member, sorted by ID, gets a `ConfChangeAddNode` entry at term 1, index 1...N, whose context is
/// the member's JSON (`{"id":…,"peerURLs":[…],"name":"…"}`), and the hard state is term 1,
/// commit N. Each member computes the same entries on its own, so the logs agree before the first
/// message — also with etcd members started from the same flags.
enum RaftBootstrap {
    static func entries(members: [MemberRecord]) -> [Entry] {
        members.sorted { $0.id < $1.id }.enumerated().map { i, member in
            let cc = ConfChange(type: .addNode, nodeID: member.id, context: Array(member.json.utf8))
            return Entry(term: 1, index: UInt64(i + 1), type: .confChange, data: cc.serializedBytes())
        }
    }
}
