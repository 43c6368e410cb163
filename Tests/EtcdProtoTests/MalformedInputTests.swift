import EtcdProto
import Testing

/// Malformed input is an error, never a trap, for every message type.
@Suite struct MalformedInputTests {
    // MARK: truncation

    @Test("a cut inside any field is an error; a cut between fields decodes", arguments: allMessageKinds)
    func truncationAtEveryByteOffset(_ kind: MessageKind) {
        checkTruncation(kind.type)
    }

    private func checkTruncation<T: Arbitrary>(_: T.Type) {
        for (seed, bytes) in T.encodedInstances(count: 12) {
            let boundaries = Set([0] + WireBytes.fields(bytes).map(\.range.upperBound))
            for cut in 0..<bytes.count {
                let error = T.decodeError(Array(bytes[..<cut]))
                if boundaries.contains(cut) {
                    #expect(error == nil, "\(T.protoMessageName) seed \(seed) cut \(cut) of \(bytes.count)")
                } else {
                    #expect(error != nil, "\(T.protoMessageName) seed \(seed) cut \(cut) of \(bytes.count)")
                }
            }
        }
    }

    // MARK: wire types, lengths, varints

    /// Every (field, wire type) the encoder writes at the top level of a type, from many instances.
    private func knownFields<T: Arbitrary>(_: T.Type) -> [Int: WireType] {
        var out: [Int: WireType] = [:]
        for (_, bytes) in T.encodedInstances(count: 200) {
            for field in WireBytes.fields(bytes) { out[field.field] = field.wireType }
        }
        return out
    }

    /// Repeated scalar fields, which accept a varint and a packed (length-delimited) run alike.
    private static let packedFields: Set<String> = ["etcdserverpb.WatchCreateRequest.5"]

    @Test("a known field with a wire type its type cannot have is rejected", arguments: allMessageKinds)
    func wrongWireTypesAreRejected(_ kind: MessageKind) {
        checkWrongWireTypes(kind.type)
    }

    private func checkWrongWireTypes<T: Arbitrary>(_: T.Type) {
        let fields = knownFields(T.self)
        if !(T.self is any EmptyProtoMessage.Type) { #expect(!fields.isEmpty, "\(T.protoMessageName): no fields seen") }
        for (field, wireType) in fields {
            var cases: [(WireType, [UInt8])] = [
                (.fixed32, WireBytes.tag(field, .fixed32) + [1, 2, 3, 4]),
                (.fixed64, WireBytes.tag(field, .fixed64) + [1, 2, 3, 4, 5, 6, 7, 8]),
                (.startGroup, WireBytes.tag(field, .startGroup) + WireBytes.tag(field, .endGroup)),
            ]
            let packed = Self.packedFields.contains("\(T.protoMessageName).\(field)")
            if wireType == .varint, !packed {
                cases.append((.lengthDelimited, WireBytes.tag(field, .lengthDelimited) + [0]))
            }
            if wireType == .lengthDelimited, !packed {
                cases.append((.varint, WireBytes.tag(field, .varint) + [1]))
            }
            for (sent, bytes) in cases {
                #expect(
                    T.decodeError(bytes) == .wrongWireType(field: field, wireType: sent.rawValue),
                    "\(T.protoMessageName) field \(field) sent as wire type \(sent.rawValue)")
            }
        }
    }

    @Test("a length prefix past the end of the message is rejected", arguments: allMessageKinds)
    func lengthsPastTheEndAreRejected(_ kind: MessageKind) {
        checkLengthsPastEnd(kind.type)
    }

    private func checkLengthsPastEnd<T: Arbitrary>(_: T.Type) {
        var lengthDelimited = knownFields(T.self).filter { $0.value == .lengthDelimited }.map(\.key)
        lengthDelimited.append(50_000)  // an unknown field is skipped by its length: same check
        for field in lengthDelimited {
            for length: UInt64 in [4, 1 << 31, 1 << 62, UInt64.max] {
                let bytes = WireBytes.tag(field, .lengthDelimited) + WireBytes.varint(length) + [1, 2, 3]
                #expect(T.decodeError(bytes) == .lengthPastEnd, "\(T.protoMessageName) field \(field) length \(length)")
            }
        }
    }

    @Test func aLengthPastTheEndOfANestedMessageIsRejectedEvenIfTheOuterBufferHasTheBytes() {
        // RangeResponse.kvs[0] has 3 bytes: KeyValue.key claims 5 of them.
        let bytes: [UInt8] = [0x12, 0x03, 0x0a, 0x05, 0x61] + Array("bcdefg".utf8)
        #expect(RangeResponse.decodeError(bytes) == .lengthPastEnd)
    }

    @Test("an overlong varint is rejected", arguments: allMessageKinds)
    func overlongVarintsAreRejected(_ kind: MessageKind) {
        checkOverlongVarints(kind.type)
    }

    private func checkOverlongVarints<T: Arbitrary>(_: T.Type) {
        var varintFields = knownFields(T.self).filter { $0.value == .varint }.map(\.key)
        varintFields.append(50_000)  // unknown varints are read too
        for field in varintFields {
            let elevenBytes = WireBytes.tag(field, .varint) + Array(repeating: 0xff, count: 10) + [0x01]
            let tenthByteTooBig = WireBytes.tag(field, .varint) + Array(repeating: 0xff, count: 9) + [0x02]
            let tenBytesExactly = WireBytes.tag(field, .varint) + Array(repeating: 0x80, count: 9) + [0x01]
            #expect(T.decodeError(elevenBytes) == .malformedVarint, "\(T.protoMessageName) field \(field)")
            #expect(T.decodeError(tenthByteTooBig) == .malformedVarint, "\(T.protoMessageName) field \(field)")
            #expect(T.decodeError(tenBytesExactly) == nil, "\(T.protoMessageName) field \(field)")
        }
        // An overlong tag.
        #expect(T.decodeError(Array(repeating: 0x80, count: 10) + [0x01]) == .malformedVarint)
    }

    @Test func invalidTagsAreRejected() {
        #expect(PutRequest.decodeError([0x00, 0x01]) == .invalidTag)  // field 0
        #expect(PutRequest.decodeError([0x0e]) == .invalidTag)  // wire type 6
        #expect(PutRequest.decodeError([0x0f]) == .invalidTag)  // wire type 7
        let tooBig = WireBytes.varint(UInt64(ProtoLimits.fieldNumberMax + 1) << 3)
        #expect(PutRequest.decodeError(tooBig + [0]) == .invalidTag)
        let largest = WireBytes.varint(UInt64(ProtoLimits.fieldNumberMax) << 3)
        #expect(PutRequest.decodeError(largest + [0]) == nil)
    }

    @Test func unbalancedGroupsAreRejected() {
        #expect(PutRequest.decodeError(WireBytes.tag(9, .endGroup)) == .unbalancedGroup)
        #expect(PutRequest.decodeError(WireBytes.tag(9, .startGroup)) == .unbalancedGroup)
        #expect(PutRequest.decodeError(WireBytes.tag(9, .startGroup) + WireBytes.tag(10, .endGroup)) == .unbalancedGroup)
        #expect(PutRequest.decodeError(WireBytes.tag(9, .startGroup) + WireBytes.tag(9, .endGroup)) == nil)
    }

    @Test func invalidUTF8InAStringFieldIsRejected() {
        let bytes = WireBytes.tag(1, .lengthDelimited) + [2, 0xc3, 0x28]
        #expect(AuthenticateRequest.decodeError(bytes) == .invalidUTF8(field: 1))
        // The same bytes in a bytes field are fine.
        #expect(PutRequest.decodeError(bytes) == nil)
    }

    // MARK: nesting

    @Test func txnRequestsNestedWithinTheLimitDecode() throws {
        let depth = ProtoLimits.nestingDepthMax / 2 - 1
        let bytes = WireBytes.nestedTxnRequest(depth: depth)
        #expect(try TxnRequest(serializedBytes: bytes) == WireBytes.nestedTxnValue(depth: depth))
        #expect(WireBytes.nestedTxnValue(depth: depth).serializedBytes() == bytes)
    }

    @Test func txnRequestsNestedBeyondTheLimitAreRejected() {
        for depth in [ProtoLimits.nestingDepthMax / 2 + 1, ProtoLimits.nestingDepthMax, 1_000, 100_000] {
            let bytes = WireBytes.nestedTxnRequest(depth: depth)
            #expect(TxnRequest.decodeError(bytes) == .nestingTooDeep, "depth \(depth)")
            // Inside an InternalRaftRequest (one more level) and a RequestOp.
            let entry = WireBytes.tag(6, .lengthDelimited) + WireBytes.varint(UInt64(bytes.count)) + bytes
            #expect(InternalRaftRequest.decodeError(entry) == .nestingTooDeep, "depth \(depth)")
        }
    }

    @Test func unknownGroupsNestedBeyondTheLimitAreRejected() {
        var bytes: [UInt8] = []
        for level in 0..<(ProtoLimits.nestingDepthMax + 1) { bytes += WireBytes.tag(30_000 + level, .startGroup) }
        for level in (0..<(ProtoLimits.nestingDepthMax + 1)).reversed() { bytes += WireBytes.tag(30_000 + level, .endGroup) }
        #expect(WatchRequest.decodeError(bytes) == .nestingTooDeep)
    }

    // MARK: garbage and mutations

    @Test("random bytes and mutated encodings never trap, and what decodes re-encodes stably", arguments: allMessageKinds)
    func randomAndMutatedInputs(_ kind: MessageKind) throws {
        try checkRandomInputs(kind.type)
    }

    private func checkRandomInputs<T: Arbitrary>(_: T.Type) throws {
        var g = TestRandom(seed: instanceSeed(T.protoMessageName, -1))
        let valid = T.encodedInstances(count: 20).map(\.bytes)
        for round in 0..<1_500 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<g.below(48)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            } else {
                bytes = valid[g.below(valid.count)]
                for _ in 0..<(1 + g.below(4)) where !bytes.isEmpty {
                    let at = g.below(bytes.count)
                    switch g.below(4) {
                    case 0: bytes[at] ^= UInt8(1 << g.below(8))
                    case 1: bytes[at] = UInt8(truncatingIfNeeded: g.next())
                    case 2: bytes.remove(at: at)
                    default: bytes.insert(UInt8(truncatingIfNeeded: g.next()), at: at)
                    }
                }
            }
            guard let decoded = try? T(serializedBytes: bytes) else { continue }
            let again = try T(serializedBytes: decoded.serializedBytes())
            #expect(again == decoded, "\(T.protoMessageName) round \(round) input \(bytes)")
        }
    }
}
