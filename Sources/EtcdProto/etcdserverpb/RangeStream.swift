/// `etcdserverpb.RangeStreamResponse` (etcd 3.7): one chunk of a `KV.RangeStream` answer.
///
/// The chunks' `kvs` are disjoint and in order; `header`, `more` and `count` are set only in the
/// last chunk, so protobuf-merging every chunk's `rangeResponse` gives what `KV.Range` returns.
/// Kubernetes tries RangeStream first and falls back to Range on UNIMPLEMENTED.
public struct RangeStreamResponse: NamedProtoMessage {
    public static var protoMessageName: String { "etcdserverpb.RangeStreamResponse" }

    public var rangeResponse: RangeResponse? = nil

    public init() {}

    public init(rangeResponse: RangeResponse?) {
        self.rangeResponse = rangeResponse
    }

    public func encode(to w: inout ProtoWriter) {
        w.writeMessage(1, rangeResponse)
    }

    public mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: rangeResponse = try .merging(rangeResponse, from: &r, field: field, wireType: wt)
        default: try r.skipField(wt)
        }
    }
}
