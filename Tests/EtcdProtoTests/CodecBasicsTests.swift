import Testing
@testable import EtcdProto

@Suite struct CodecBasicsTests {
    @Test func keyValueRoundTrips() throws {
        let kv = KeyValue(key: Array("foo".utf8), createRevision: 2, modRevision: 5, version: 3, value: Array(repeating: 7, count: 300), lease: -1)
        let bytes = kv.serializedBytes()
        #expect(try KeyValue(serializedBytes: bytes) == kv)
    }

    @Test func truncatedInputIsAnErrorAtEveryCut() throws {
        var resp = RangeResponse()
        resp.header = ResponseHeader(clusterID: 1, memberID: 2, revision: 3, raftTerm: 4)
        resp.kvs = [KeyValue(key: [1, 2, 3], value: Array(repeating: 9, count: 200))]
        resp.count = 1
        let bytes = resp.serializedBytes()
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[0..<cut])
            // Some prefixes end exactly on a field boundary and decode to a smaller message;
            // all others must throw. None may trap.
            if let decoded = try? RangeResponse(serializedBytes: prefix) { #expect(decoded != resp) }
        }
    }

    @Test func overlongVarintIsRejected() {
        let bytes: [UInt8] = [0x10] + Array(repeating: 0xff, count: 10) + [0x01]
        #expect(throws: ProtoDecodingError.malformedVarint) { try KeyValue(serializedBytes: bytes) }
    }

    @Test func wrongWireTypeOnKnownFieldIsRejected() {
        // field 2 (create_revision, varint) sent as fixed32
        let bytes: [UInt8] = [0x15, 1, 0, 0, 0]
        #expect(throws: ProtoDecodingError.wrongWireType(field: 2, wireType: 5)) { try KeyValue(serializedBytes: bytes) }
    }

    @Test func lengthPastEndIsRejected() {
        let bytes: [UInt8] = [0x0a, 0x7f, 1, 2]
        #expect(throws: ProtoDecodingError.lengthPastEnd) { try KeyValue(serializedBytes: bytes) }
    }

    @Test func unknownFieldsIncludingGroupsAreSkipped() throws {
        // field 99 varint, field 100 group containing a varint, then key = "a"
        var w = ProtoWriter()
        w.writeUInt64(99, 5)
        w.writeTag(100, .startGroup)
        w.writeUInt64(1, 1)
        w.writeTag(100, .endGroup)
        w.writeBytes(1, [0x61])
        #expect(try KeyValue(serializedBytes: w.bytes).key == [0x61])
    }

    @Test func deepNestingIsRejectedNotOverflowingTheStack() {
        // Unknown groups nested 10,000 deep must hit the nesting limit.
        var bytes: [UInt8] = []
        for _ in 0..<10_000 { bytes.append(0x7b) }  // unknown field 15: start group, never closed
        #expect(throws: ProtoDecodingError.self) { try RangeResponse(serializedBytes: bytes) }
    }
}
