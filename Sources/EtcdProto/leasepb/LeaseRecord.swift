// The leasepb package: the lease record in the backend's `lease` bucket, and the peer-to-peer
// time-to-live query a follower sends to the leader (`/leases/internal` on the peer URL).
// (The file is not called Lease.swift: etcdserverpb/Lease.swift holds the Lease service's
// messages, and a module cannot have two files of one name.)

/// `leasepb.Lease`: a lease as stored in the backend.
public struct Lease: NamedProtoMessage {
    public static var protoMessageName: String { "leasepb.Lease" }

    public var id: Int64 = 0
    /// Granted time to live, in seconds.
    public var ttl: Int64 = 0
    /// Remaining TTL saved by the last checkpoint, in seconds; 0 when never checkpointed.
    public var remainingTTL: Int64 = 0

    public init() {}

    public init(id: Int64, ttl: Int64, remainingTTL: Int64 = 0) {
        self.id = id
        self.ttl = ttl
        self.remainingTTL = remainingTTL
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeInt64(1, id)
        w.writeInt64(2, ttl)
        w.writeInt64(3, remainingTTL)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: id = try r.readInt64(field, wt)
        case 2: ttl = try r.readInt64(field, wt)
        case 3: remainingTTL = try r.readInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `leasepb.LeaseInternalRequest`: body of a follower's TTL query to the leader.
public struct LeaseInternalRequest: NamedProtoMessage {
    public static var protoMessageName: String { "leasepb.LeaseInternalRequest" }

    public var leaseTimeToLiveRequest: LeaseTimeToLiveRequest? = nil

    public init() {}

    public init(leaseTimeToLiveRequest: LeaseTimeToLiveRequest?) {
        self.leaseTimeToLiveRequest = leaseTimeToLiveRequest
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, leaseTimeToLiveRequest)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: leaseTimeToLiveRequest = try .merging(leaseTimeToLiveRequest, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}

/// `leasepb.LeaseInternalResponse`: the leader's answer to a `LeaseInternalRequest`.
public struct LeaseInternalResponse: NamedProtoMessage {
    public static var protoMessageName: String { "leasepb.LeaseInternalResponse" }

    public var leaseTimeToLiveResponse: LeaseTimeToLiveResponse? = nil

    public init() {}

    public init(leaseTimeToLiveResponse: LeaseTimeToLiveResponse?) {
        self.leaseTimeToLiveResponse = leaseTimeToLiveResponse
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, leaseTimeToLiveResponse)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: leaseTimeToLiveResponse = try .merging(leaseTimeToLiveResponse, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
