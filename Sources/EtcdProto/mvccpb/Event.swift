/// `mvccpb.Event`: one change to one key, as a watch stream delivers it.
public struct Event: NamedProtoMessage {
    public static var protoMessageName: String { "mvccpb.Event" }

    /// `Event.EventType`.
    public enum EventType: Int32, Sendable { case put = 0, delete = 1 }

    public var typeRaw: Int32 = 0
    /// A put: the key after the change. A delete: the key, with `modRevision` the deleting revision.
    public var kv: KeyValue? = nil
    /// The key before the change, when the watcher asked for `prev_kv`.
    public var prevKV: KeyValue? = nil

    public var type: EventType? { EventType(rawValue: typeRaw) }

    public init() {}

    public init(type: EventType, kv: KeyValue?, prevKV: KeyValue? = nil) {
        self.typeRaw = type.rawValue
        self.kv = kv
        self.prevKV = prevKV
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, typeRaw)
        w.writeMessage(2, kv)
        w.writeMessage(3, prevKV)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: typeRaw = try r.readEnum(field, wt)
        case 2: kv = try .merging(kv, from: &r, field: field, wireType: wt)
        case 3: prevKV = try .merging(prevKV, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
