// gRPC's standard health service (grpc.health.v1), which etcd registers on its client port.

/// `grpc.health.v1.HealthCheckRequest`.
public struct HealthCheckRequest: NamedProtoMessage {
    public static var protoMessageName: String { "grpc.health.v1.HealthCheckRequest" }

    /// "" asks about the server as a whole.
    public var service: String = ""

    public init() {}

    public init(service: String) {
        self.service = service
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeString(1, service)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: service = try r.readString(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `grpc.health.v1.HealthCheckResponse`.
public struct HealthCheckResponse: NamedProtoMessage {
    public static var protoMessageName: String { "grpc.health.v1.HealthCheckResponse" }

    /// `HealthCheckResponse.ServingStatus`.
    public enum ServingStatus: Int32, Sendable {
        case unknown = 0
        case serving = 1
        case notServing = 2
        /// Only from Watch, for a service the server does not know.
        case serviceUnknown = 3
    }

    public var statusRaw: Int32 = 0

    public var status: ServingStatus? { ServingStatus(rawValue: statusRaw) }

    public init() {}

    public init(status: ServingStatus) {
        self.statusRaw = status.rawValue
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeEnum(1, statusRaw)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: statusRaw = try r.readEnum(field, wt)
        default: try r.skipField(wt)
        }
    }
}

/// `grpc.health.v1.HealthListRequest` (gRPC proposal A90).
public struct HealthListRequest: EmptyProtoMessage {
    public static var protoMessageName: String { "grpc.health.v1.HealthListRequest" }
    public init() {}
}

/// `grpc.health.v1.HealthListResponse`: `map<string, HealthCheckResponse> statuses = 1`.
///
/// A map is a repeated entry message (key = 1, value = 2). Entries are written in key order, so
/// the encoding is deterministic, with key and value always present, as the C++ and Go runtimes
/// write them; a key seen twice keeps the last value, as protobuf specifies.
public struct HealthListResponse: NamedProtoMessage {
    public static var protoMessageName: String { "grpc.health.v1.HealthListResponse" }

    public var statuses: [String: HealthCheckResponse] = [:]

    public init() {}

    public init(statuses: [String: HealthCheckResponse]) {
        self.statuses = statuses
    }

    public func encode(to w: inout ProtoWriter) {
        for key in statuses.keys.sorted() {
            let value = statuses[key]!
            w.writeLengthDelimited(1) { entry in
                entry.writeStringAlways(1, key)
                entry.writeMessage(2, value)
            }
        }
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1:
            try ProtoReader.expect(wt, .lengthDelimited, field: field)
            var entry = try r.subReader()
            var key = ""
            var value = HealthCheckResponse()
            while let (entryField, entryWireType) = try entry.nextTag() {
                switch entryField {
                case 1: key = try entry.readString(entryField, entryWireType)
                case 2: value = try .merging(value, from: &entry, field: entryField, wireType: entryWireType)
                default:
                    if entryWireType == .endGroup { throw .unbalancedGroup }
                    try entry.skipField(entryWireType)
                }
            }
            statuses[key] = value
        default: try r.skipField(wt)
        }
    }
}
