/// A protobuf message with a hand-written codec.
///
/// A conforming type has one stored property per field, with proto3 defaults, and implements:
/// - `encode(to:)`: writes its fields in field-number order;
/// - `decodeField(_:_:from:)`: reads one field it knows, and calls `reader.skipField` for any other
///   number (unknown fields are skipped, as every protobuf parser must).
/// Repeated fields append; a singular field seen twice keeps the last value, and a singular
/// sub-message seen twice is merged, as protobuf specifies.
public protocol ProtoMessage: Equatable, Sendable {
    init()
    func encode(to writer: inout ProtoWriter)
    mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws(ProtoDecodingError)
}

extension ProtoMessage {
    /// Decodes every field until the reader's end.
    public mutating func decodeFields(from reader: inout ProtoReader) throws(ProtoDecodingError) {
        while let (field, wireType) = try reader.nextTag() {
            if wireType == .endGroup { throw .unbalancedGroup }
            try decodeField(field, wireType, from: &reader)
        }
    }

    /// Decodes a whole message from `bytes`.
    public init(serializedBytes bytes: some ContiguousBytesLike) throws(ProtoDecodingError) {
        var message = Self()
        let result: Result<Void, ProtoDecodingError> = bytes.withBytes { raw in
            var reader = ProtoReader(raw)
            do throws(ProtoDecodingError) {
                try message.decodeFields(from: &reader)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        self = message
    }

    /// Decodes a whole message from borrowed memory.
    public init(decoding raw: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var message = Self()
        var reader = ProtoReader(raw)
        try message.decodeFields(from: &reader)
        self = message
    }

    /// Merges a sub-message field seen again into `existing` (protobuf's merge rule).
    public static func merging(_ existing: Self?, from reader: inout ProtoReader, field: Int, wireType: WireType) throws(ProtoDecodingError) -> Self {
        try ProtoReader.expect(wireType, .lengthDelimited, field: field)
        var sub = try reader.subReader()
        var message = existing ?? Self()
        try message.decodeFields(from: &sub)
        return message
    }

    /// The encoded message.
    public func serializedBytes() -> [UInt8] {
        var writer = ProtoWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

/// Byte containers a message can be decoded from without a copy.
public protocol ContiguousBytesLike {
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R
}

extension Array: ContiguousBytesLike where Element == UInt8 {
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(body)
    }
}

extension ArraySlice: ContiguousBytesLike where Element == UInt8 {
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer: ContiguousBytesLike {
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(self)
    }
}

/// A message that knows its fully qualified protobuf name (`package.Message`, as in `Protos/`):
/// for the gRPC method table, error text, and tests that hand our bytes to another protobuf
/// implementation.
public protocol NamedProtoMessage: ProtoMessage {
    static var protoMessageName: String { get }
}
