import EtcdProto
import Foundation
import MVCC
import Synchronization

/// The cluster's membership as the log has built it: members (from ConfChange entries and the
/// attributes each member publishes), removed member IDs (never allowed back), and the cluster
/// version the leader settled. Every member applies the same entries, so every member holds the
/// same value at the same index.
struct Membership: Equatable, Sendable, Codable {
    var members: [UInt64: MemberRecord] = [:]
    var removed: Set<UInt64> = []
    /// etcd's cluster version ("3.5.0"), nil until the leader decided it.
    var clusterVersion: String?
    /// The downgrade in progress (etcd's `DowngradeInfo` when enabled), nil when there is none.
    var downgrade: DowngradeInfo?

    /// Members sorted by ID, as etcd lists them.
    var sortedMembers: [MemberRecord] { members.values.sorted { $0.id < $1.id } }

    var voterIDs: [UInt64] { sortedMembers.filter { !$0.isLearner }.map(\.id) }

    /// Raft's configuration for this membership (simple changes only, as etcd makes them: no
    /// joint configuration ever persists).
    var confState: ConfState {
        ConfState(voters: voterIDs, learners: sortedMembers.filter(\.isLearner).map(\.id))
    }

    private enum CodingKeys: String, CodingKey {
        case members, removed, clusterVersion, downgrade
    }

    /// The synthesized layout (members as [id, record, id, record, ...], removed as a list), in
    /// ID order: every member writes the same bytes for the same membership (a dictionary's and a
    /// set's own order differ from process to process), so backends and their hash agree.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        var list = c.nestedUnkeyedContainer(forKey: .members)
        for (id, record) in members.sorted(by: { $0.key < $1.key }) {
            try list.encode(id)
            try list.encode(record)
        }
        try c.encode(removed.sorted(), forKey: .removed)
        try c.encodeIfPresent(clusterVersion, forKey: .clusterVersion)
        try c.encodeIfPresent(downgrade, forKey: .downgrade)
    }
}

/// etcd's `membership.DowngradeInfo` while a downgrade is enabled: the target cluster version
/// ("3.4.0").
struct DowngradeInfo: Equatable, Sendable, Codable {
    var targetVersion: String
}

/// The membership persisted beside the data (meta key `membership`, written in the apply
/// transaction) and an in-memory copy for readers. Changed on the raft thread only; `current`
/// may be read from any thread.
final class MembershipStore: Sendable {
    static let metaKey: [UInt8] = Array("membership".utf8)
    private let published: Mutex<Membership>

    init(store: MVCCStore) throws {
        published = Mutex(try store.read { view in try Self.decode(view.getMeta(Self.metaKey)) })
    }

    /// The membership as of the last applied batch. Any thread.
    var current: Membership { published.withLock { $0 } }

    /// Re-reads the committed membership after a batch that changed it (raft thread).
    func publish(from store: MVCCStore) throws {
        let loaded = try store.read { view in try Self.decode(view.getMeta(Self.metaKey)) }
        published.withLock { $0 = loaded }
    }

    static func load(_ txn: MVCCWriteTxn) throws -> Membership {
        try decode(txn.getMeta(metaKey))
    }

    static func save(_ membership: Membership, _ txn: MVCCWriteTxn) throws {
        try txn.putMeta(metaKey, try encode(membership))
    }

    /// The stored form (deterministic: see `Membership.encode(to:)`).
    static func encode(_ membership: Membership) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(membership))
    }

    static func decode(_ bytes: [UInt8]?) throws -> Membership {
        guard let bytes else { return Membership() }
        return try JSONDecoder().decode(Membership.self, from: Data(bytes))
    }
}
