// Messages of the `etcdserverpb.Maintenance` service, except alarms (Alarm.swift) and
// downgrades (Downgrade.swift).

/// `etcdserverpb.StatusRequest`.
public struct StatusRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.StatusRequest" }
    public init() {}
}

/// `etcdserverpb.StatusResponse`: the member's view of itself and the cluster.
public struct StatusResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.StatusResponse" }

    public var header: ResponseHeader? = nil
    /// The server's version. Kubernetes parses it as semver and gates features on it.
    public var version: String = ""
    /// Bytes the backend file takes.
    public var dbSize: Int64 = 0
    /// Member ID of the leader; 0 when there is none.
    public var leader: UInt64 = 0
    public var raftIndex: UInt64 = 0
    public var raftTerm: UInt64 = 0
    public var raftAppliedIndex: UInt64 = 0
    public var errors: [String] = []
    /// Bytes of the backend actually in use (`dbSize` less free pages).
    public var dbSizeInUse: Int64 = 0
    public var isLearner: Bool = false
    /// etcd 3.6: the storage schema version.
    public var storageVersion: String = ""
    /// etcd 3.6: the backend quota, in bytes.
    public var dbSizeQuota: Int64 = 0
    /// etcd 3.6: the cluster's downgrade state.
    public var downgradeInfo: DowngradeInfo? = nil

    public init() {}

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeString(2, version)
        w.writeInt64(3, dbSize)
        w.writeUInt64(4, leader)
        w.writeUInt64(5, raftIndex)
        w.writeUInt64(6, raftTerm)
        w.writeUInt64(7, raftAppliedIndex)
        for error in errors { w.writeStringAlways(8, error) }
        w.writeInt64(9, dbSizeInUse)
        w.writeBool(10, isLearner)
        w.writeString(11, storageVersion)
        w.writeInt64(12, dbSizeQuota)
        w.writeMessage(13, downgradeInfo)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: version = try r.readString(field, wt)
        case 3: dbSize = try r.readInt64(field, wt)
        case 4: leader = try r.readUInt64(field, wt)
        case 5: raftIndex = try r.readUInt64(field, wt)
        case 6: raftTerm = try r.readUInt64(field, wt)
        case 7: raftAppliedIndex = try r.readUInt64(field, wt)
        case 8: errors.append(try r.readString(field, wt))
        case 9: dbSizeInUse = try r.readInt64(field, wt)
        case 10: isLearner = try r.readBool(field, wt)
        case 11: storageVersion = try r.readString(field, wt)
        case 12: dbSizeQuota = try r.readInt64(field, wt)
        case 13: downgradeInfo = try .merging(downgradeInfo, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.DowngradeInfo` (etcd 3.6, in `StatusResponse`).
public struct DowngradeInfo: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DowngradeInfo" }

    public var enabled: Bool = false
    public var targetVersion: String = ""

    public init() {}

    public init(enabled: Bool, targetVersion: String = "") {
        self.enabled = enabled
        self.targetVersion = targetVersion
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeBool(1, enabled)
        w.writeString(2, targetVersion)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: enabled = try r.readBool(field, wt)
        case 2: targetVersion = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.DefragmentRequest`.
public struct DefragmentRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.DefragmentRequest" }
    public init() {}
}

/// `etcdserverpb.DefragmentResponse`.
public struct DefragmentResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.DefragmentResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}

/// `etcdserverpb.HashRequest`: hash of the whole backend (tests only).
public struct HashRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.HashRequest" }
    public init() {}
}

/// `etcdserverpb.HashResponse`.
public struct HashResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.HashResponse" }

    public var header: ResponseHeader? = nil
    public var hash: UInt32 = 0

    public init() {}

    public init(header: ResponseHeader?, hash: UInt32) {
        self.header = header
        self.hash = hash
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeUInt32(2, hash)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: hash = try r.readUInt32(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.HashKVRequest`: hash of the key-value history up to a revision.
public struct HashKVRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.HashKVRequest" }

    /// 0 means the latest revision.
    public var revision: Int64 = 0

    public init() {}

    public init(revision: Int64) {
        self.revision = revision
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, revision)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: revision = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.HashKVResponse`.
public struct HashKVResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.HashKVResponse" }

    public var header: ResponseHeader? = nil
    public var hash: UInt32 = 0
    public var compactRevision: Int64 = 0
    /// etcd 3.6: the revision the hash covers.
    public var hashRevision: Int64 = 0

    public init() {}

    public init(header: ResponseHeader?, hash: UInt32, compactRevision: Int64, hashRevision: Int64 = 0) {
        self.header = header
        self.hash = hash
        self.compactRevision = compactRevision
        self.hashRevision = hashRevision
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeUInt32(2, hash)
        w.writeInt64(3, compactRevision)
        w.writeInt64(4, hashRevision)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: hash = try r.readUInt32(field, wt)
        case 3: compactRevision = try r.readInt64(field, wt)
        case 4: hashRevision = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.SnapshotRequest`.
public struct SnapshotRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.SnapshotRequest" }
    public init() {}
}

/// `etcdserverpb.SnapshotResponse`: one chunk of the backend copy. The bytes of all chunks end
/// with a 32-byte sha256 of what precedes it (see COMPAT.md).
public struct SnapshotResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.SnapshotResponse" }

    /// Set on the first chunk.
    public var header: ResponseHeader? = nil
    /// Bytes still to come after this chunk.
    public var remainingBytes: UInt64 = 0
    public var blob: [UInt8] = []
    /// etcd 3.6: the snapshot's storage version.
    public var version: String = ""

    public init() {}

    public init(header: ResponseHeader?, remainingBytes: UInt64, blob: [UInt8], version: String = "") {
        self.header = header
        self.remainingBytes = remainingBytes
        self.blob = blob
        self.version = version
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
        w.writeUInt64(2, remainingBytes)
        w.writeBytes(3, blob)
        w.writeString(4, version)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        case 2: remainingBytes = try r.readUInt64(field, wt)
        case 3: blob = try r.readBytes(field, wt)
        case 4: version = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MoveLeaderRequest`: hands leadership to another voter.
public struct MoveLeaderRequest: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.MoveLeaderRequest" }

    public var targetID: UInt64 = 0

    public init() {}

    public init(targetID: UInt64) {
        self.targetID = targetID
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeUInt64(1, targetID)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: targetID = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `etcdserverpb.MoveLeaderResponse`.
public struct MoveLeaderResponse: HeaderOnlyResponse {
    public static var protoMessageName: String { "etcdserverpb.MoveLeaderResponse" }
    public var header: ResponseHeader? = nil
    public init() {}
}
