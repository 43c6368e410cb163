import EtcdProto
import Testing

/// Every message type: seeded random values survive encode → decode, and the encoding is a
/// function of the value (re-encoding the decoded value gives the same bytes).
@Suite struct RoundTripTests {
    static let instancesPerType = 300

    @Test("every message type round-trips through its encoding", arguments: allMessageKinds)
    func everyMessageTypeRoundTrips(_ kind: MessageKind) throws {
        try checkRoundTrips(kind.type)
    }

    private func checkRoundTrips<T: Arbitrary>(_: T.Type) throws {
        for i in 0..<Self.instancesPerType {
            let seed = instanceSeed(T.protoMessageName, i)
            let value = T.instance(seed: seed)
            let bytes = value.serializedBytes()
            let decoded = try T(serializedBytes: bytes)
            #expect(decoded == value, "\(T.protoMessageName) seed \(seed)")
            #expect(decoded.serializedBytes() == bytes, "\(T.protoMessageName) seed \(seed): encoding not canonical")
            let borrowed = try bytes.withUnsafeBytes { try T(decoding: $0) }
            #expect(borrowed == value, "\(T.protoMessageName) seed \(seed): borrowed decode differs")
        }
    }

    @Test("unknown fields of every wire type are skipped wherever they appear", arguments: allMessageKinds)
    func unknownFieldsAreSkipped(_ kind: MessageKind) throws {
        try checkUnknownFieldsSkipped(kind.type)
    }

    private func checkUnknownFieldsSkipped<T: Arbitrary>(_: T.Type) throws {
        for i in 0..<50 {
            let seed = instanceSeed(T.protoMessageName, i)
            let value = T.instance(seed: seed)
            let bytes = value.serializedBytes()
            var g = TestRandom(seed: seed ^ 0xdead_beef)
            var spliced: [UInt8] = []
            for field in WireBytes.fields(bytes) {
                if g.bool() { spliced += Self.unknownField(&g) }
                spliced += bytes[field.range]
            }
            spliced += Self.unknownField(&g)
            #expect(try T(serializedBytes: spliced) == value, "\(T.protoMessageName) seed \(seed)")
        }
    }

    /// A field no message here knows (numbers from 20 000 up), of a random wire type; groups
    /// contain further unknown fields.
    static func unknownField(_ g: inout TestRandom, depth: Int = 0) -> [UInt8] {
        let field = 20_000 + g.below(100_000)
        var w = ProtoWriter()
        switch g.below(depth < 3 ? 5 : 4) {
        case 0:
            w.writeUInt64Always(field, g.uint64())
        case 1:
            w.writeTag(field, .fixed64)
            w.writeFixed64(g.next())
        case 2:
            w.writeTag(field, .fixed32)
            w.writeFixed32(UInt32(truncatingIfNeeded: g.next()))
        case 3:
            w.writeBytesAlways(field, g.bytes())
        default:
            w.writeTag(field, .startGroup)
            for _ in 0..<g.below(3) { w.writeRaw(unknownField(&g, depth: depth + 1)) }
            w.writeTag(field, .endGroup)
        }
        return w.bytes
    }
}
