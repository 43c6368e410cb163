/// Reads protobuf wire encoding from a borrowed byte range.
///
/// A reader borrows memory (it is created inside `withUnsafeBytes`) and must not outlive that
/// scope; every value it returns (`[UInt8]`, `String`, integers) is an owned copy. Every read is
/// bounds-checked against the end of the current message, so a malformed input produces a
/// `ProtoDecodingError`, never a trap or an allocation larger than the input itself.
public struct ProtoReader {
    @usableFromInline let base: UnsafeRawPointer?
    @usableFromInline var position: Int
    @usableFromInline let end: Int
    /// Field number of the tag `nextTag` returned last (to match a group's end tag).
    @usableFromInline var lastField: Int = 0
    /// How many length-delimited levels enclose this reader.
    public let depth: Int

    public init(_ buffer: UnsafeRawBufferPointer, depth: Int = 0) {
        base = buffer.baseAddress
        position = 0
        end = buffer.count
        self.depth = depth
    }

    init(base: UnsafeRawPointer?, position: Int, end: Int, depth: Int) {
        self.base = base
        self.position = position
        self.end = end
        self.depth = depth
    }

    public var isAtEnd: Bool { position >= end }
    public var bytesRemaining: Int { end - position }

    // MARK: tags

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextTag() throws(ProtoDecodingError) -> (field: Int, wireType: WireType)? {
        if position >= end { return nil }
        let key = try readVarint()
        let field = key >> 3
        guard field >= 1, field <= UInt64(ProtoLimits.fieldNumberMax),
            let wireType = WireType(rawValue: UInt8(key & 7))
        else { throw .invalidTag }
        lastField = Int(field)
        return (lastField, wireType)
    }

    // MARK: primitives

    public mutating func readVarint() throws(ProtoDecodingError) -> UInt64 {
        guard let base else { throw .truncated }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var count = 0
        while true {
            guard position < end else { throw .truncated }
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            count += 1
            if count == ProtoLimits.varintBytesMax && byte > 1 { throw .malformedVarint }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    public mutating func readFixed64() throws(ProtoDecodingError) -> UInt64 {
        guard let base, end - position >= 8 else { throw .truncated }
        let v = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: v)
    }

    public mutating func readFixed32() throws(ProtoDecodingError) -> UInt32 {
        guard let base, end - position >= 4 else { throw .truncated }
        let v = base.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: v)
    }

    /// Reads a length prefix and checks it against the bytes left in this message.
    mutating func readLength() throws(ProtoDecodingError) -> Int {
        let length = try readVarint()
        guard length <= UInt64(end - position) else { throw .lengthPastEnd }
        return Int(length)
    }

    // MARK: typed field readers (check the wire type of a known field)

    @inline(__always)
    static func expect(_ wireType: WireType, _ wanted: WireType, field: Int) throws(ProtoDecodingError) {
        if wireType != wanted { throw .wrongWireType(field: field, wireType: wireType.rawValue) }
    }

    public mutating func readUInt64(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> UInt64 {
        try Self.expect(wireType, .varint, field: field)
        return try readVarint()
    }

    public mutating func readInt64(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Int64 {
        try Self.expect(wireType, .varint, field: field)
        return Int64(bitPattern: try readVarint())
    }

    /// int32 fields are sign-extended varints; protobuf truncates to the low 32 bits.
    public mutating func readInt32(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Int32 {
        try Self.expect(wireType, .varint, field: field)
        return Int32(truncatingIfNeeded: try readVarint())
    }

    public mutating func readUInt32(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> UInt32 {
        try Self.expect(wireType, .varint, field: field)
        return UInt32(truncatingIfNeeded: try readVarint())
    }

    public mutating func readSInt64(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Int64 {
        try Self.expect(wireType, .varint, field: field)
        let v = try readVarint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    public mutating func readBool(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Bool {
        try Self.expect(wireType, .varint, field: field)
        return try readVarint() != 0
    }

    /// An enum's raw value (int32 on the wire). Unknown values are kept, as proto3 requires.
    public mutating func readEnum(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Int32 {
        try readInt32(field, wireType)
    }

    public mutating func readFixed64Field(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> UInt64 {
        try Self.expect(wireType, .fixed64, field: field)
        return try readFixed64()
    }

    public mutating func readDouble(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> Double {
        try Self.expect(wireType, .fixed64, field: field)
        return Double(bitPattern: try readFixed64())
    }

    public mutating func readBytes(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> [UInt8] {
        try Self.expect(wireType, .lengthDelimited, field: field)
        let length = try readLength()
        guard length > 0, let base else { return [] }
        let out = [UInt8](UnsafeRawBufferPointer(start: base + position, count: length))
        position += length
        return out
    }

    public mutating func readString(_ field: Int, _ wireType: WireType) throws(ProtoDecodingError) -> String {
        try Self.expect(wireType, .lengthDelimited, field: field)
        let length = try readLength()
        guard length > 0, let base else { return "" }
        let raw = UnsafeRawBufferPointer(start: base + position, count: length)
        position += length
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }

    /// Reads a nested message. The sub-reader is bounded by the length prefix and one level deeper.
    public mutating func readMessage<M: ProtoMessage>(_ field: Int, _ wireType: WireType, as: M.Type = M.self) throws(ProtoDecodingError) -> M {
        try Self.expect(wireType, .lengthDelimited, field: field)
        var sub = try subReader()
        var message = M()
        try message.decodeFields(from: &sub)
        return message
    }

    /// A reader over the next length-delimited body; this reader moves past it.
    public mutating func subReader() throws(ProtoDecodingError) -> ProtoReader {
        guard depth + 1 <= ProtoLimits.nestingDepthMax else { throw .nestingTooDeep }
        let length = try readLength()
        let sub = ProtoReader(base: base, position: position, end: position + length, depth: depth + 1)
        position += length
        return sub
    }

    /// Appends a repeated varint field's values, accepting packed and unpacked encodings alike
    /// (protobuf parsers must accept both).
    public mutating func readRepeatedUInt64(_ field: Int, _ wireType: WireType, into values: inout [UInt64]) throws(ProtoDecodingError) {
        switch wireType {
        case .varint:
            values.append(try readVarint())
        case .lengthDelimited:
            var sub = try subReader()
            while !sub.isAtEnd { values.append(try sub.readVarint()) }
        default:
            throw .wrongWireType(field: field, wireType: wireType.rawValue)
        }
    }

    public mutating func readRepeatedInt64(_ field: Int, _ wireType: WireType, into values: inout [Int64]) throws(ProtoDecodingError) {
        switch wireType {
        case .varint:
            values.append(Int64(bitPattern: try readVarint()))
        case .lengthDelimited:
            var sub = try subReader()
            while !sub.isAtEnd { values.append(Int64(bitPattern: try sub.readVarint())) }
        default:
            throw .wrongWireType(field: field, wireType: wireType.rawValue)
        }
    }

    /// Appends a repeated enum field's raw values (int32 varints, packed or not). Unknown values
    /// are kept, as for a singular enum.
    public mutating func readRepeatedEnum(_ field: Int, _ wireType: WireType, into values: inout [Int32]) throws(ProtoDecodingError) {
        switch wireType {
        case .varint:
            values.append(Int32(truncatingIfNeeded: try readVarint()))
        case .lengthDelimited:
            var sub = try subReader()
            while !sub.isAtEnd { values.append(Int32(truncatingIfNeeded: try sub.readVarint())) }
        default:
            throw .wrongWireType(field: field, wireType: wireType.rawValue)
        }
    }

    // MARK: unknown fields

    /// Skips the body of a field whose tag was just read by `nextTag`. A group is skipped to the
    /// end tag with the same field number (any other end tag is malformed, as protobuf holds),
    /// within the nesting limit.
    public mutating func skipField(_ wireType: WireType) throws(ProtoDecodingError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64:
            guard end - position >= 8 else { throw .truncated }
            position += 8
        case .fixed32:
            guard end - position >= 4 else { throw .truncated }
            position += 4
        case .lengthDelimited:
            position += try readLength()
        case .startGroup:
            try skipGroup(field: lastField, level: depth + 1)
        case .endGroup:
            throw .unbalancedGroup
        }
    }

    private mutating func skipGroup(field: Int, level: Int) throws(ProtoDecodingError) {
        guard level <= ProtoLimits.nestingDepthMax else { throw .nestingTooDeep }
        while true {
            guard let (inner, wireType) = try nextTag() else { throw .unbalancedGroup }
            switch wireType {
            case .endGroup:
                if inner != field { throw .unbalancedGroup }
                return
            case .startGroup: try skipGroup(field: inner, level: level + 1)
            default: try skipField(wireType)
            }
        }
    }
}
