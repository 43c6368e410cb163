/// The `Data` of a raft snapshot as etcd 3.5 writes it: its v2 store serialized as JSON, which a
/// 3.5 member that receives the snapshot rebuilds the membership and the cluster version from
/// (`/0/members/<hex>/raftAttributes`, `/0/members/<hex>/attributes`,
/// `/0/removed_members/<hex>`, `/0/version`). swetcd members take the membership from the backend
/// file instead; this is written so that an etcd member could take a swetcd leader's snapshot.
enum V2StoreSnapshot {
    static func json(_ membership: Membership) -> String {
        var members: [String] = []
        for m in membership.sortedMembers {
            let id = String(m.id, radix: 16)
            var raft = "{\"peerURLs\":\(JSONText.array(m.peerURLs))"
            if m.isLearner { raft += ",\"isLearner\":true" }
            raft += "}"
            var children = [("raftAttributes", leaf("/0/members/\(id)/raftAttributes", raft))]
            if !m.name.isEmpty || !m.clientURLs.isEmpty {
                children.append(("attributes", leaf("/0/members/\(id)/attributes", MemberAttributes(name: m.name, clientURLs: m.clientURLs).json)))
            }
            members.append("\(JSONText.string(id)):\(dir("/0/members/\(id)", children.sorted { $0.0 < $1.0 }))")
        }
        var zero: [(String, String)] = [("members", dir("/0/members", members))]
        if !membership.removed.isEmpty {
            let removed = membership.removed.sorted().map { id -> String in
                let hex = String(id, radix: 16)
                return "\(JSONText.string(hex)):\(leaf("/0/removed_members/\(hex)", "removed"))"
            }
            zero.append(("removed_members", dir("/0/removed_members", removed)))
        }
        if let version = membership.clusterVersion { zero.append(("version", leaf("/0/version", version))) }
        let root = dir("/", [("0", dir("/0", zero)), ("1", dir("/1", [String]()))])
        return "{\"Root\":\(root),\"CurrentIndex\":0,\"CurrentVersion\":2}"
    }

    private static let node = "\"CreatedIndex\":0,\"ModifiedIndex\":0,\"ExpireTime\":\"0001-01-01T00:00:00Z\""

    private static func leaf(_ path: String, _ value: String) -> String {
        "{\"Path\":\(JSONText.string(path)),\(node),\"Value\":\(JSONText.string(value)),\"Children\":null}"
    }

    private static func dir(_ path: String, _ children: [(String, String)]) -> String {
        dir(path, children.map { "\(JSONText.string($0.0)):\($0.1)" })
    }

    private static func dir(_ path: String, _ encodedChildren: [String]) -> String {
        "{\"Path\":\(JSONText.string(path)),\(node),\"Value\":\"\",\"Children\":{\(encodedChildren.joined(separator: ","))}}"
    }
}
