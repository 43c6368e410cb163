// Alarms (`Maintenance.Alarm`): a member raises NOSPACE when the backend reaches its quota and
// CORRUPT when a corruption check fails; alarms are replicated through raft (`AlarmRequest` is an
// `InternalRaftRequest` field).

/// `etcdserverpb.AlarmType`.
public enum AlarmType: Int32, Sendable {
    /// In a request: every alarm type.
    case none = 0
    case noSpace = 1
    case corrupt = 2
}

/// `etcdserverpb.AlarmRequest`.
public struct AlarmRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AlarmRequest" }

    /// `AlarmRequest.AlarmAction`.
    public enum AlarmAction: Int32, Sendable { case get = 0, activate = 1, deactivate = 2 }

    public var actionRaw: Int32 = 0
    /// 0 means every member.
    public var memberID: UInt64 = 0
    public var alarmRaw: Int32 = 0

    public var action: AlarmAction? { AlarmAction(rawValue: actionRaw) }
    public var alarm: AlarmType? { AlarmType(rawValue: alarmRaw) }

    public init() {}

    public init(action: AlarmAction, memberID: UInt64 = 0, alarm: AlarmType = .none) {
        self.actionRaw = action.rawValue
        self.memberID = memberID
        self.alarmRaw = alarm.rawValue
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, actionRaw)
        w.writeUInt64(2, memberID)
        w.writeEnum(3, alarmRaw)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: actionRaw = try r.readEnum(field, wt)
        case 2: memberID = try r.readUInt64(field, wt)
        case 3: alarmRaw = try r.readEnum(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AlarmMember`: one raised alarm.
public struct AlarmMember: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AlarmMember" }

    public var memberID: UInt64 = 0
    public var alarmRaw: Int32 = 0

    public var alarm: AlarmType? { AlarmType(rawValue: alarmRaw) }

    public init() {}

    public init(memberID: UInt64, alarm: AlarmType) {
        self.memberID = memberID
        self.alarmRaw = alarm.rawValue
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, memberID)
        w.writeEnum(2, alarmRaw)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: memberID = try r.readUInt64(field, wt)
        case 2: alarmRaw = try r.readEnum(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.AlarmResponse`.
public struct AlarmResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.AlarmResponse" }

    public var header: ResponseHeader? = nil
    public var alarms: [AlarmMember] = []

    public init() {}

    public init(header: ResponseHeader?, alarms: [AlarmMember]) {
        self.header = header
        self.alarms = alarms
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeRepeatedMessages(2, alarms)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: alarms.append(try r.readMessage(field, wt))
        default: try r.skipField(wt)
        }
    }
}
