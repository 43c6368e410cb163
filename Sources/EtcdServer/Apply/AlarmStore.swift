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

    /// Applies ACTIVATE/DEACTIVATE; returns the member-alarm changed, nil if nothing changed.
    func apply(_ request: AlarmRequest, txn: inout MVCCWriteTxn) throws -> AlarmMember? {
        guard let type = request.alarm, type != .none else { return nil }
        let member = AlarmMember(memberID: request.memberID, alarm: type)
        let changed: AlarmMember? = alarms.withLock { list in
            switch request.action {
            case .activate?:
                if list.contains(member) { return nil }
                list.append(member)
                return member
            case .deactivate?:
                guard let i = list.firstIndex(of: member) else { return nil }
                list.remove(at: i)
                return member
            default:
                return nil
            }
        }
        if changed != nil {
            try txn.putMeta(Self.metaKey, AlarmResponse(header: nil, alarms: get(.none)).serializedBytes())
        }
        return changed
    }
}
