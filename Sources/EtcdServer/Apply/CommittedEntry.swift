import EtcdProto

/// A committed log entry, decoded once before its batch's apply transaction (a batch that is run
/// again does not decode again). What etcd's `applyEntryNormal`/`applyConfChange` switch on.
enum CommittedEntry {
    /// No data: a new leader's first entry of its term.
    case empty
    case request(InternalRaftRequest)
    /// A bare v2 `etcdserverpb.Request` (etcd 3.4/3.5 publish member attributes and the cluster
    /// version this way): data that is not an `InternalRaftRequest` is tried as one, as etcd does.
    case v2(V2Request)
    case confChange(ConfChange)
    case confChangeV2(ConfChangeV2)
    /// Data that decodes as nothing: applied as a no-op that fails its proposer, identically on
    /// every member and every replay.
    case undecodable(String)

    /// Decodes `entry`; `known` is the request this member proposed with exactly these bytes (no
    /// need to decode it again).
    static func decode(_ entry: Entry, known: InternalRaftRequest? = nil) -> CommittedEntry {
        switch entry.type {
        case .normal?:
            if entry.data.isEmpty { return .empty }
            if let known { return .request(known) }
            if let request = try? InternalRaftRequest(serializedBytes: entry.data) { return .request(request) }
            if let v2 = try? V2Request(serializedBytes: entry.data) { return .v2(v2) }
            return .undecodable("the entry is neither an InternalRaftRequest nor a v2 Request")
        case .confChange?:
            guard let cc = try? ConfChange(serializedBytes: entry.data) else { return .undecodable("malformed ConfChange") }
            return .confChange(cc)
        case .confChangeV2?:
            guard let cc = try? ConfChangeV2(serializedBytes: entry.data) else { return .undecodable("malformed ConfChangeV2") }
            return .confChangeV2(cc)
        case nil:
            return .undecodable("unknown entry type \(entry.typeRaw)")
        }
    }

    /// The ID its proposer waits on (etcd: `InternalRaftRequest.ID`, else its header's ID; a v2
    /// request's ID; a conf change's ID), 0 when none.
    var requestID: UInt64 {
        switch self {
        case .request(let r): r.id != 0 ? r.id : (r.header?.id ?? 0)
        case .v2(let v): v.id
        case .confChange(let cc): cc.id
        case .empty, .confChangeV2, .undecodable: 0
        }
    }

    var request: InternalRaftRequest? {
        if case .request(let r) = self { return r }
        return nil
    }
}

extension InternalRaftRequest {
    /// The proposal ID in encoded request bytes (field 1, else the header's field 1) without
    /// decoding the rest: how the raft thread finds who waits for an entry before deciding whether
    /// to decode it. nil when the bytes do not parse that far.
    static func peekRequestID(_ bytes: [UInt8]) -> UInt64? {
        bytes.withUnsafeBytes { raw -> UInt64? in
            var r = ProtoReader(raw)
            var headerID: UInt64?
            while let tag = try? r.nextTag() {
                if tag.field == 1 && tag.wireType == .varint {
                    guard let id = try? r.readVarint() else { return nil }
                    if id != 0 { return id }
                } else if tag.field == 100 && tag.wireType == .lengthDelimited {
                    guard let header = try? r.readMessage(tag.field, tag.wireType, as: RequestHeader.self) else { return nil }
                    headerID = header.id
                } else {
                    guard (try? r.skipField(tag.wireType)) != nil else { return nil }
                }
            }
            return headerID
        }
    }
}
