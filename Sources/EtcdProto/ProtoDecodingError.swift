/// Why a byte string is not a valid encoding of the message asked for. Every decoder in this module
/// reports malformed input with one of these; none traps or allocates more than the input's size.
public enum ProtoDecodingError: Error, Equatable, Sendable {
    /// The input ended inside a tag, a varint, a fixed-width value or a length-delimited body.
    case truncated
    /// A varint ran past 10 bytes, or its tenth byte carried more than the top bit of a UInt64.
    case malformedVarint
    /// The tag named wire type 6 or 7, or a field number of 0 or above 2^29 - 1.
    case invalidTag
    /// A known field arrived with a wire type its declared type cannot have.
    case wrongWireType(field: Int, wireType: UInt8)
    /// A length prefix pointed past the end of the enclosing message.
    case lengthPastEnd
    /// Messages (or groups) nested deeper than `ProtoLimits.nestingDepthMax`.
    case nestingTooDeep
    /// An end-group tag without a matching start, or a group that never ended.
    case unbalancedGroup
    /// A `string` field that is not valid UTF-8 (proto3 requires it; Go's decoder rejects it too).
    case invalidUTF8(field: Int)
}
