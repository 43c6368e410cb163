/// `raftpb.ConfChangeType`.
public enum ConfChangeType: Int32, Sendable, CaseIterable {
    case addNode = 0
    case removeNode = 1
    case updateNode = 2
    case addLearnerNode = 3

    /// etcd's spelling (`ConfChangeAddNode`).
    public var etcdName: String {
        switch self {
        case .addNode: "ConfChangeAddNode"
        case .removeNode: "ConfChangeRemoveNode"
        case .updateNode: "ConfChangeUpdateNode"
        case .addLearnerNode: "ConfChangeAddLearnerNode"
        }
    }
}

/// `raftpb.ConfChangeTransition`: whether and how a `ConfChangeV2` uses joint consensus.
public enum ConfChangeTransition: Int32, Sendable, CaseIterable {
    /// The simple protocol when the change allows it (one voter changes), joint consensus left
    /// automatically otherwise.
    case auto = 0
    /// Joint consensus, left automatically by the leader once the joint config is applied.
    case jointImplicit = 1
    /// Joint consensus, left only when the application proposes an empty `ConfChangeV2`.
    case jointExplicit = 2
}

/// `raftpb.ConfChange`: the original one-change-at-a-time membership change, which etcd 3.4's
/// server proposes (entry type `EntryConfChange`). Field 1 (`ID`) is etcd's request id.
public struct ConfChange: ProtoMessage {
    public var id: UInt64 = 0
    public var typeRaw: Int32 = 0
    public var nodeID: UInt64 = 0
    public var context: [UInt8] = []

    public var type: ConfChangeType? { ConfChangeType(rawValue: typeRaw) }

    public init() {}

    public init(type: ConfChangeType, nodeID: UInt64, context: [UInt8] = [], id: UInt64 = 0) {
        self.id = id
        self.typeRaw = type.rawValue
        self.nodeID = nodeID
        self.context = context
    }

    /// The same operation as a `ConfChangeV2` (one change, automatic transition).
    public var asV2: ConfChangeV2 {
        var v2 = ConfChangeV2()
        v2.changes = [ConfChangeSingle(typeRaw: typeRaw, nodeID: nodeID)]
        v2.context = context
        return v2
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64Always(1, id)
        w.writeInt64Always(2, Int64(typeRaw))
        w.writeUInt64Always(3, nodeID)
        w.writeBytes(4, context)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readUInt64(field, wt)
        case 2: typeRaw = try r.readEnum(field, wt)
        case 3: nodeID = try r.readUInt64(field, wt)
        case 4: context = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `raftpb.ConfChangeSingle`: one operation of a `ConfChangeV2`.
public struct ConfChangeSingle: ProtoMessage {
    public var typeRaw: Int32 = 0
    public var nodeID: UInt64 = 0

    public var type: ConfChangeType? { ConfChangeType(rawValue: typeRaw) }

    public init() {}

    public init(type: ConfChangeType, nodeID: UInt64) {
        self.typeRaw = type.rawValue
        self.nodeID = nodeID
    }

    public init(typeRaw: Int32, nodeID: UInt64) {
        self.typeRaw = typeRaw
        self.nodeID = nodeID
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64Always(1, Int64(typeRaw))
        w.writeUInt64Always(2, nodeID)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: typeRaw = try r.readEnum(field, wt)
        case 2: nodeID = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `raftpb.ConfChangeV2`: any number of membership operations applied atomically, through joint
/// consensus when more than one voter changes (entry type `EntryConfChangeV2`). A change with no
/// operations (context aside) leaves a joint configuration.
public struct ConfChangeV2: ProtoMessage {
    public var transitionRaw: Int32 = 0
    public var changes: [ConfChangeSingle] = []
    public var context: [UInt8] = []

    public var transition: ConfChangeTransition? { ConfChangeTransition(rawValue: transitionRaw) }

    public init() {}

    public init(transition: ConfChangeTransition = .auto, changes: [ConfChangeSingle], context: [UInt8] = []) {
        self.transitionRaw = transition.rawValue
        self.changes = changes
        self.context = context
    }

    /// How applying this change moves the configuration: a change with no operations (and no
    /// transition) leaves a joint configuration; joint consensus is entered when asked for
    /// explicitly or when there is more than one operation; a single operation with `.auto` uses
    /// the simple protocol. An unknown transition value is treated as `.jointImplicit`.
    public var kind: ConfChangeKind {
        if leavesJoint { return .leaveJoint }
        guard transitionRaw != ConfChangeTransition.auto.rawValue || changes.count > 1 else { return .simple }
        return .enterJoint(autoLeave: transition != .jointExplicit)
    }

    /// True for the change that leaves a joint configuration: no transition and no operations
    /// (the context may carry anything).
    public var leavesJoint: Bool { transitionRaw == 0 && changes.isEmpty }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64Always(1, Int64(transitionRaw))
        w.writeRepeatedMessages(2, changes)
        w.writeBytes(3, context)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: transitionRaw = try r.readEnum(field, wt)
        case 2: changes.append(try r.readMessage(field, wt, as: ConfChangeSingle.self))
        case 3: context = try r.readBytes(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// What applying a `ConfChangeV2` does to the configuration (see `ConfChangeV2.kind`).
public enum ConfChangeKind: Equatable, Sendable {
    /// At most one voter changes; the new configuration takes effect directly.
    case simple
    /// The configuration becomes joint (old and new majorities both needed); `autoLeave` says
    /// whether the leader proposes the leaving change itself once the joint config is applied.
    case enterJoint(autoLeave: Bool)
    /// The joint configuration is replaced by its incoming half.
    case leaveJoint
}
