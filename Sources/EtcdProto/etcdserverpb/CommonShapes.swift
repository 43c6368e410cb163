// Two message shapes that recur across etcd's services get their codec once, here:
// - requests with no fields (`StatusRequest`, `AuthEnableRequest`, …): nothing to write, every
//   field unknown and skipped;
// - responses that carry only `ResponseHeader header = 1` (`AuthEnableResponse`, …).
// Each such message is still its own struct, named as in etcd, so that a wrong pairing of request
// and response types fails to compile.

/// A message with no fields.
public protocol EmptyProtoMessage: NamedProtoMessage {}

extension EmptyProtoMessage {
    public func encode(to w: inout ProtoWriter) {}

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        try r.skipField(wt)
    }
}

/// A response whose only field is `ResponseHeader header = 1`.
public protocol HeaderOnlyResponse: NamedProtoMessage {
    var header: ResponseHeader? { get set }
}

extension HeaderOnlyResponse {
    public init(header: ResponseHeader?) {
        self.init()
        self.header = header
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, header)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: header = try .merging(header, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
