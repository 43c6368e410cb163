/// The six protobuf wire types. Groups (3, 4) are deprecated and never produced by etcd, but a
/// decoder must still be able to skip them as unknown fields.
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Limits that bound what a decoder will do for any input, named so tests can assert relations.
public enum ProtoLimits {
    /// Deepest nesting of length-delimited messages (and groups) a decoder follows. etcd nests
    /// `TxnRequest` inside `RequestOp`; a client could nest it without end to exhaust the stack.
    public static let nestingDepthMax = 64
    /// Largest field number protobuf allows (2^29 - 1).
    public static let fieldNumberMax = (1 << 29) - 1
    /// Longest varint: 10 bytes carry 64 bits.
    public static let varintBytesMax = 10
}
