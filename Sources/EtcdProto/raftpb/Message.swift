/// `raftpb.MessageType` (etcd `raft/raftpb/raft.proto`). The raw values are the wire values; the
/// names drop etcd's `Msg` prefix (`MsgApp` is `.app`).
///
/// Local types (`hup`, `beat`, `unreachable`, `snapStatus`, `checkQuorum`) never leave a member:
/// they are how a member talks to its own state machine. The rest cross the network.
public enum MessageType: Int32, Sendable, CaseIterable {
    case hup = 0
    case beat = 1
    case prop = 2
    case app = 3
    case appResp = 4
    case vote = 5
    case voteResp = 6
    case snap = 7
    case heartbeat = 8
    case heartbeatResp = 9
    case unreachable = 10
    case snapStatus = 11
    case checkQuorum = 12
    case transferLeader = 13
    case timeoutNow = 14
    case readIndex = 15
    case readIndexResp = 16
    case preVote = 17
    case preVoteResp = 18

    /// etcd's spelling (`MsgApp`), used in logs and scenario traces.
    public var etcdName: String {
        switch self {
        case .hup: "MsgHup"
        case .beat: "MsgBeat"
        case .prop: "MsgProp"
        case .app: "MsgApp"
        case .appResp: "MsgAppResp"
        case .vote: "MsgVote"
        case .voteResp: "MsgVoteResp"
        case .snap: "MsgSnap"
        case .heartbeat: "MsgHeartbeat"
        case .heartbeatResp: "MsgHeartbeatResp"
        case .unreachable: "MsgUnreachable"
        case .snapStatus: "MsgSnapStatus"
        case .checkQuorum: "MsgCheckQuorum"
        case .transferLeader: "MsgTransferLeader"
        case .timeoutNow: "MsgTimeoutNow"
        case .readIndex: "MsgReadIndex"
        case .readIndexResp: "MsgReadIndexResp"
        case .preVote: "MsgPreVote"
        case .preVoteResp: "MsgPreVoteResp"
        }
    }

    /// A message a member only ever sends to itself; stepping one from a peer is an error.
    public var isLocal: Bool {
        switch self {
        case .hup, .beat, .unreachable, .snapStatus, .checkQuorum: true
        default: false
        }
    }

    /// A reply to something this member sent; only meaningful from a member it tracks.
    public var isResponse: Bool {
        switch self {
        case .appResp, .voteResp, .heartbeatResp, .unreachable, .preVoteResp: true
        default: false
        }
    }
}

/// `raftpb.Message`: every message between Raft members, and the local messages a member steps
/// into itself. proto2 with gogoproto non-nullable fields: every scalar field, `snapshot`, and
/// `reject`/`rejectHint` are always written (as etcd's marshaller does); `context` only when
/// non-empty; `entries` one tag per entry.
///
/// Field meaning depends on `type`; see `Raft` for which fields each type carries. `term` is 0 only
/// for local messages and for `prop`/`readIndex`, which are forwarded without a term.
public struct Message: ProtoMessage {
    public var typeRaw: Int32 = 0
    public var to: UInt64 = 0
    public var from: UInt64 = 0
    public var term: UInt64 = 0
    /// For `app`: the term of the entry at `index`. For vote requests: the candidate's last term.
    /// For a rejected `appResp`: the follower's term at `rejectHint` (fast backtracking).
    public var logTerm: UInt64 = 0
    public var index: UInt64 = 0
    public var entries: [Entry] = []
    public var commit: UInt64 = 0
    public var snapshot: Snapshot = Snapshot()
    public var reject: Bool = false
    public var rejectHint: UInt64 = 0
    public var context: [UInt8] = []

    /// The message type, or nil for a value this build does not know (kept in `typeRaw`).
    @inlinable public var type: MessageType? { MessageType(rawValue: typeRaw) }

    public init() {}

    @inlinable
    public init(
        type: MessageType, to: UInt64 = 0, from: UInt64 = 0, term: UInt64 = 0, logTerm: UInt64 = 0,
        index: UInt64 = 0, entries: [Entry] = [], commit: UInt64 = 0, snapshot: Snapshot = Snapshot(),
        reject: Bool = false, rejectHint: UInt64 = 0, context: [UInt8] = []
    ) {
        self.typeRaw = type.rawValue
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.snapshot = snapshot
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64Always(1, Int64(typeRaw))
        w.writeUInt64Always(2, to)
        w.writeUInt64Always(3, from)
        w.writeUInt64Always(4, term)
        w.writeUInt64Always(5, logTerm)
        w.writeUInt64Always(6, index)
        w.writeRepeatedMessages(7, entries)
        w.writeUInt64Always(8, commit)
        w.writeMessage(9, snapshot)
        w.writeBoolAlways(10, reject)
        w.writeUInt64Always(11, rejectHint)
        w.writeBytes(12, context)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: typeRaw = try r.readEnum(field, wt)
        case 2: to = try r.readUInt64(field, wt)
        case 3: from = try r.readUInt64(field, wt)
        case 4: term = try r.readUInt64(field, wt)
        case 5: logTerm = try r.readUInt64(field, wt)
        case 6: index = try r.readUInt64(field, wt)
        case 7: entries.append(try r.readMessage(field, wt, as: Entry.self))
        case 8: commit = try r.readUInt64(field, wt)
        case 9: snapshot = try .merging(snapshot, from: &r, field: field, wireType: wt)
        case 10: reject = try r.readBool(field, wt)
        case 11: rejectHint = try r.readUInt64(field, wt)
        case 12: context = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}
