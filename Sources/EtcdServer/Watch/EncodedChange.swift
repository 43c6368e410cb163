import EtcdProto
import MVCC

/// A change with its `mvccpb.Event` encoded once, shared by every watcher that receives it.
///
/// With ten thousand watchers on one key, each put goes out ten thousand times; encoding the
/// key-value once per change instead of once per watcher is most of the cost of fan-out.
/// Immutable after construction, so any thread may read it.
final class EncodedChange: Sendable {
    let change: MVCCChange
    /// The event without `prev_kv`.
    let event: [UInt8]
    /// The event with `prev_kv` (the same bytes when there is no previous version).
    let eventWithPrevKV: [UInt8]

    init(_ change: MVCCChange) {
        self.change = change
        let type: Event.EventType = change.isDelete ? .delete : .put
        event = Event(type: type, kv: change.kv).serializedBytes()
        eventWithPrevKV = change.prevKV == nil ? event : Event(type: type, kv: change.kv, prevKV: change.prevKV).serializedBytes()
    }

    var revision: Int64 { change.kv.modRevision }
}

/// Builds `WatchResponse` bytes from pre-encoded events (field numbers of etcd's rpc.proto:
/// header 1, watch_id 2, fragment 7, events 11), without re-encoding any key-value.
enum WatchResponseEncoder {
    static func encode(header: ResponseHeader, watchID: Int64, events: [EncodedChange], prevKV: Bool, fragment: Bool = false) -> [UInt8] {
        var size = 64
        for e in events { size += (prevKV ? e.eventWithPrevKV.count : e.event.count) + 6 }
        var w = ProtoWriter(capacity: size)
        w.writeMessage(1, header)
        w.writeInt64(2, watchID)
        w.writeBool(7, fragment)
        for e in events { w.writeBytesAlways(11, prevKV ? e.eventWithPrevKV : e.event) }
        return w.bytes
    }
}
