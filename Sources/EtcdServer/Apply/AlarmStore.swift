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
        get(rawType: type.rawValue)
    }

    /// Raised alarms of the wire value `rawType` (0: all): a type this version does not know
    /// matches nothing, as in etcd's `alarmStore.Get`.
    func get(rawType: Int32) -> [AlarmMember] {
        alarms.withLock { list in list.filter { rawType == 0 || $0.alarmRaw == rawType } }
    }

    var noSpace: Bool { alarms.withLock { list in list.contains { $0.alarm == .noSpace } } }

    /// The list as of the transaction (the persisted one plus this batch's earlier changes).
    private static func load(_ txn: MVCCWriteTxn) throws -> [AlarmMember] {
        guard let bytes = try txn.getMeta(metaKey) else { return [] }
        return try AlarmResponse(serializedBytes: bytes).alarms
    }

    /// What the raised alarms allow, as of `txn` (earlier entries of the same batch included, so
    /// that the outcome does not depend on how entries were batched). etcd swaps its applier when
    /// an alarm is raised or disarmed (`applierV3Corrupt`, `applierV3Capped`); swetcd derives the
    /// same restriction from the list itself: CORRUPT refuses every write, NOSPACE every write
    /// that can grow the store.
    ///
    /// (etcd keeps the swapped applier in memory and resets it to the plain one when any alarm
    /// type is disarmed, even while the other is still raised, until a restart: swetcd follows
    /// the list instead.)
    static func restriction(_ txn: MVCCWriteTxn) throws -> AlarmRestriction {
        let list = try load(txn)
        if list.contains(where: { $0.alarm == .corrupt }) { return .corrupt }
        if list.contains(where: { $0.alarm == .noSpace }) { return .capped }
        return .none
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

/// What raised alarms forbid at apply (see `AlarmStore.restriction`).
enum AlarmRestriction {
    case none
    /// NOSPACE: puts, lease grants and txns with puts fail with `etcdserver: mvcc: database space exceeded`.
    case capped
    /// CORRUPT: puts, deletes, txns, compactions, lease grants and revokes fail with
    /// `etcdserver: corrupt cluster`.
    case corrupt
}

extension AlarmMember {
    /// gogo/protobuf's compact text form (`String()`), as etcd puts it in `StatusResponse.errors`:
    /// each field that is not its default, as `name:value ` (`memberID:5 alarm:NOSPACE `).
    var compactText: String {
        var text = ""
        if memberID != 0 { text += "memberID:\(memberID) " }
        if alarmRaw != 0 {
            switch alarm {
            case .noSpace?: text += "alarm:NOSPACE "
            case .corrupt?: text += "alarm:CORRUPT "
            case .none?, nil: text += "alarm:\(alarmRaw) "
            }
        }
        return text
    }
}
