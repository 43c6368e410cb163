/// `raftpb.ConfState`: the membership at a snapshot. Repeated fields are proto2 unpacked (one tag
/// per value), as etcd writes them; the decoder accepts packed too.
public struct ConfState: ProtoMessage {
    public var voters: [UInt64] = []
    public var learners: [UInt64] = []
    public var votersOutgoing: [UInt64] = []
    public var learnersNext: [UInt64] = []
    public var autoLeave: Bool = false

    public init() {}

    public init(voters: [UInt64], learners: [UInt64] = []) {
        self.voters = voters
        self.learners = learners
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUnpackedUInt64(1, voters)
        w.writeUnpackedUInt64(2, learners)
        w.writeUnpackedUInt64(3, votersOutgoing)
        w.writeUnpackedUInt64(4, learnersNext)
        w.writeBoolAlways(5, autoLeave)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: try r.readRepeatedUInt64(field, wt, into: &voters)
        case 2: try r.readRepeatedUInt64(field, wt, into: &learners)
        case 3: try r.readRepeatedUInt64(field, wt, into: &votersOutgoing)
        case 4: try r.readRepeatedUInt64(field, wt, into: &learnersNext)
        case 5: autoLeave = try r.readBool(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `raftpb.SnapshotMetadata`.
public struct SnapshotMetadata: ProtoMessage {
    public var confState: ConfState = ConfState()
    public var index: UInt64 = 0
    public var term: UInt64 = 0

    public init() {}

    public init(confState: ConfState, index: UInt64, term: UInt64) {
        self.confState = confState
        self.index = index
        self.term = term
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, confState)
        w.writeUInt64Always(2, index)
        w.writeUInt64Always(3, term)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: confState = try .merging(confState, from: &r, field: field, wireType: wt)
        case 2: index = try r.readUInt64(field, wt)
        case 3: term = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `raftpb.Snapshot`: metadata plus the state machine's bytes (for etcd, a bbolt file).
public struct Snapshot: ProtoMessage {
    public var data: [UInt8] = []
    public var metadata: SnapshotMetadata = SnapshotMetadata()

    public init() {}

    public init(data: [UInt8], metadata: SnapshotMetadata) {
        self.data = data
        self.metadata = metadata
    }

    public var isEmpty: Bool { metadata.index == 0 }

    public func encode(to w: inout ProtoWriter) {
        w.writeBytes(1, data)
        w.writeMessage(2, metadata)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: data = try r.readBytes(field, wt)
        case 2: metadata = try .merging(metadata, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
