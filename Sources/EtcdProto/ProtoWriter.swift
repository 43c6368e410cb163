/// Appends protobuf wire encoding to a growable byte array.
///
/// Field helpers follow proto3 presence rules: scalar fields equal to their default (0, false,
/// empty) are not written, unless the `…Always` variant is used (proto2 non-nullable fields, as
/// gogoproto emits them for `raftpb`). Nested messages are written with a one-byte length slot that
/// is widened in place when the body turns out to be 128 bytes or longer, so a message is encoded
/// in one pass without computing sizes first.
public struct ProtoWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Starts with `prefix` zero bytes already in place (for a frame header filled in later).
    public init(prefixBytes prefix: Int, capacity: Int = 64) {
        bytes = [UInt8](repeating: 0, count: prefix)
        bytes.reserveCapacity(Swift.max(capacity, prefix))
    }

    public var count: Int { bytes.count }

    public mutating func overwrite(at offset: Int, with newBytes: some Collection<UInt8>) {
        precondition(offset >= 0 && offset + newBytes.count <= bytes.count, "overwrite outside the buffer")
        bytes.replaceSubrange(offset..<(offset + newBytes.count), with: newBytes)
    }

    // MARK: primitives

    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func writeTag(_ field: Int, _ wireType: WireType) {
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    public mutating func writeFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeFixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeRaw(_ raw: some Collection<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    // MARK: scalar fields (proto3: skipped when default)

    public mutating func writeUInt64(_ field: Int, _ value: UInt64) {
        if value != 0 { writeUInt64Always(field, value) }
    }

    public mutating func writeUInt64Always(_ field: Int, _ value: UInt64) {
        writeTag(field, .varint)
        writeVarint(value)
    }

    /// int64 and int32 (sign-extended, so a negative value takes 10 bytes, as protobuf requires).
    public mutating func writeInt64(_ field: Int, _ value: Int64) {
        if value != 0 { writeInt64Always(field, value) }
    }

    public mutating func writeInt64Always(_ field: Int, _ value: Int64) {
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    public mutating func writeInt32(_ field: Int, _ value: Int32) {
        writeInt64(field, Int64(value))
    }

    public mutating func writeUInt32(_ field: Int, _ value: UInt32) {
        writeUInt64(field, UInt64(value))
    }

    public mutating func writeSInt64(_ field: Int, _ value: Int64) {
        if value != 0 {
            writeTag(field, .varint)
            writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
        }
    }

    public mutating func writeBool(_ field: Int, _ value: Bool) {
        if value { writeBoolAlways(field, value) }
    }

    public mutating func writeBoolAlways(_ field: Int, _ value: Bool) {
        writeTag(field, .varint)
        bytes.append(value ? 1 : 0)
    }

    /// An enum field, by its raw value.
    public mutating func writeEnum(_ field: Int, _ rawValue: Int32) {
        writeInt64(field, Int64(rawValue))
    }

    public mutating func writeFixed64Field(_ field: Int, _ value: UInt64) {
        if value != 0 {
            writeTag(field, .fixed64)
            writeFixed64(value)
        }
    }

    public mutating func writeDouble(_ field: Int, _ value: Double) {
        if value != 0 || value.sign == .minus {
            writeTag(field, .fixed64)
            writeFixed64(value.bitPattern)
        }
    }

    // MARK: length-delimited fields

    public mutating func writeBytes(_ field: Int, _ value: [UInt8]) {
        if !value.isEmpty { writeBytesAlways(field, value) }
    }

    public mutating func writeBytesAlways(_ field: Int, _ value: some Collection<UInt8>) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ field: Int, _ value: String) {
        if !value.isEmpty { writeStringAlways(field, value) }
    }

    public mutating func writeStringAlways(_ field: Int, _ value: String) {
        var value = value
        value.withUTF8 { writeBytesAlways(field, $0) }
    }

    /// Packed repeated varints (proto3 default for repeated scalars).
    public mutating func writePackedUInt64(_ field: Int, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        writeLengthDelimited(field) { w in
            for v in values { w.writeVarint(v) }
        }
    }

    public mutating func writePackedInt64(_ field: Int, _ values: [Int64]) {
        guard !values.isEmpty else { return }
        writeLengthDelimited(field) { w in
            for v in values { w.writeVarint(UInt64(bitPattern: v)) }
        }
    }

    /// Packed repeated enum raw values (int32, sign-extended as for a singular enum).
    public mutating func writePackedEnum(_ field: Int, _ values: [Int32]) {
        guard !values.isEmpty else { return }
        writeLengthDelimited(field) { w in
            for v in values { w.writeVarint(UInt64(bitPattern: Int64(v))) }
        }
    }

    /// Repeated varints, one tag each (proto2 without `packed`, as `raftpb.ConfState` is encoded).
    public mutating func writeUnpackedUInt64(_ field: Int, _ values: [UInt64]) {
        for v in values { writeUInt64Always(field, v) }
    }

    /// A present sub-message: tag, length, body. An empty message still writes tag and zero length,
    /// which is how presence of an all-default message is carried.
    public mutating func writeMessage<M: ProtoMessage>(_ field: Int, _ message: M) {
        writeLengthDelimited(field) { w in message.encode(to: &w) }
    }

    /// An optional sub-message: written only when present.
    public mutating func writeMessage<M: ProtoMessage>(_ field: Int, _ message: M?) {
        if let message { writeMessage(field, message) }
    }

    public mutating func writeRepeatedMessages<M: ProtoMessage>(_ field: Int, _ messages: [M]) {
        for m in messages { writeMessage(field, m) }
    }

    /// Writes tag + length + whatever `body` appends. The length slot starts as one byte and is
    /// widened (shifting the body) only when the body is 128 bytes or longer.
    public mutating func writeLengthDelimited(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        let slot = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - slot - 1
        if length < 0x80 {
            bytes[slot] = UInt8(length)
            return
        }
        // Widen the slot in place: open the extra bytes after it, then write the varint over it.
        let extra = Self.varintSize(UInt64(length)) - 1
        bytes.insert(contentsOf: repeatElement(0, count: extra), at: slot + 1)
        bytes.withUnsafeMutableBufferPointer { buffer in
            var v = UInt64(length)
            var i = slot
            while v >= 0x80 {
                buffer[i] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                i += 1
            }
            buffer[i] = UInt8(v)
        }
    }

    /// Bytes a varint encoding of `value` takes (1...10).
    @inlinable
    public static func varintSize(_ value: UInt64) -> Int {
        // 7 bits per byte; a zero value still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }
}
