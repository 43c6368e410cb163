import EtcdProto
import MVCC
import Synchronization

/// The raised alarms (etcd's `alarmStore`): which member raised which alarm. Persisted under
/// `meta["alarm"]` in the apply transaction; the in-memory copy answers GET and the NOSPACE
/// check on every write without touching the backend. Changed on the raft thread only.
final class AlarmStore: Sendable {
    static let metaKey: [UInt8] = Array("alarm".utf8)
    private let alarms: Mutex<[AlarmMember]>

    init(store: MVCCStore) throws {
        var loaded: [AlarmMember] = []
        if let bytes = try store.read({ try $0.getMeta(Self.metaKey) }) {
            loaded = try AlarmResponse(serializedBytes: bytes).alarms
        }
        alarms = Mutex(loaded)
    }

    /// Raised alarms of `type` (`.none`: all), in the order raised.
    func get(_ type: AlarmType) -> [AlarmMember] {
        alarms.withLock { list in list.filter { type == .none || $0.alarm == type } }
    }

    var noSpace: Bool { alarms.withLock { list in list.contains { $0.alarm == .noSpace } } }

    /// The list as of the transaction (the persisted one plus this batch's earlier changes).
    private static func load(_ txn: MVCCWriteTxn) throws -> [AlarmMember] {
        guard let bytes = try txn.getMeta(metaKey) else { return [] }
        return try AlarmResponse(serializedBytes: bytes).alarms
    }

    /// Applies ACTIVATE/DEACTIVATE inside the apply transaction; returns the member-alarm changed,
    /// nil if nothing changed. The in-memory list follows only in `publish`, after the commit:
    /// the backend may run a write transaction's body again (map growth), so the body must
    /// depend on nothing but the transaction.
    func apply(_ request: AlarmRequest, txn: inout MVCCWriteTxn) throws -> AlarmMember? {
        guard let type = request.alarm, type != .none else { return nil }
        let member = AlarmMember(memberID: request.memberID, alarm: type)
        var list = try Self.load(txn)
        switch request.action {
        case .activate?:
            if list.contains(member) { return nil }
            list.append(member)
        case .deactivate?:
            guard let i = list.firstIndex(of: member) else { return nil }
            list.remove(at: i)
        default:
            return nil
        }
        try txn.putMeta(Self.metaKey, AlarmResponse(header: nil, alarms: list).serializedBytes())
        return member
    }

    /// Re-reads the committed list after an apply batch that changed it (raft thread).
    func publish(from store: MVCCStore) throws {
        var loaded: [AlarmMember] = []
        if let bytes = try store.read({ try $0.getMeta(Self.metaKey) }) {
            loaded = try AlarmResponse(serializedBytes: bytes).alarms
        }
        alarms.withLock { $0 = loaded }
    }
}
