import EtcdProto
import Testing

/// Protobuf rules the codec must follow beyond "what goes in comes out".
@Suite struct CodecSemanticsTests {
    @Test func aSetOneofScalarIsWrittenEvenWhenZero() throws {
        // Kubernetes' create: Txn{ if mod_revision(key) == 0 then put }.
        let compare = Compare(key: Array("k".utf8), target: .mod, result: .equal, .modRevision(0))
        let bytes = compare.serializedBytes()
        // target MOD (2): 0x10 0x02; key: 0x1a 0x01 'k'; mod_revision 0: 0x30 0x00.
        #expect(bytes == [0x10, 0x02, 0x1a, 0x01, 0x6b, 0x30, 0x00])
        #expect(try Compare(serializedBytes: bytes).targetUnion == .modRevision(0))
        #expect(Compare().serializedBytes() == [])
    }

    @Test func anEmptySubMessageKeepsItsPresence() throws {
        let response = PutResponse(header: ResponseHeader(), prevKV: nil)
        #expect(response.serializedBytes() == [0x0a, 0x00])
        #expect(try PutResponse(serializedBytes: [0x0a, 0x00]).header == ResponseHeader())
        #expect(try PutResponse(serializedBytes: []).header == nil)
    }

    @Test func aSubMessageSeenTwiceIsMerged() throws {
        var w = ProtoWriter()
        w.writeMessage(1, ResponseHeader(clusterID: 7, memberID: 0, revision: 0, raftTerm: 0))
        w.writeMessage(1, ResponseHeader(clusterID: 0, memberID: 0, revision: 9, raftTerm: 0))
        let decoded = try RangeResponse(serializedBytes: w.bytes)
        #expect(decoded.header == ResponseHeader(clusterID: 7, memberID: 0, revision: 9, raftTerm: 0))
    }

    @Test func aOneofMessageSeenTwiceIsMergedAndAnotherMemberReplacesIt() throws {
        var w = ProtoWriter()
        w.writeMessage(2, PutRequest(key: [1], value: []))
        w.writeMessage(2, PutRequest(key: [], value: [2]))
        #expect(try RequestOp(serializedBytes: w.bytes).request == .requestPut(PutRequest(key: [1], value: [2])))
        w.writeMessage(1, RangeRequest(key: [3]))
        #expect(try RequestOp(serializedBytes: w.bytes).request == .requestRange(RangeRequest(key: [3])))
    }

    @Test func aScalarSeenTwiceKeepsTheLastValue() throws {
        var w = ProtoWriter()
        w.writeInt64(3, 5)
        w.writeInt64(3, 6)
        #expect(try PutRequest(serializedBytes: w.bytes).lease == 6)
    }

    @Test func repeatedEnumsAreReadPackedAndUnpacked() throws {
        var packed = ProtoWriter()
        packed.writePackedEnum(5, [1, 0, 1])
        var unpacked = ProtoWriter()
        for v: Int64 in [1, 0, 1] { unpacked.writeInt64Always(5, v) }
        let a = try WatchCreateRequest(serializedBytes: packed.bytes)
        let b = try WatchCreateRequest(serializedBytes: unpacked.bytes)
        #expect(a.filtersRaw == [1, 0, 1])
        #expect(b.filtersRaw == [1, 0, 1])
        #expect(a.filters == [.noDelete, .noPut, .noDelete])
        // And mixed: packed then unpacked values append.
        #expect(try WatchCreateRequest(serializedBytes: packed.bytes + unpacked.bytes).filtersRaw.count == 6)
    }

    @Test func unknownEnumValuesSurviveARoundTrip() throws {
        var request = RangeRequest(key: [1])
        request.sortOrderRaw = 42
        let decoded = try RangeRequest(serializedBytes: request.serializedBytes())
        #expect(decoded.sortOrderRaw == 42)
        #expect(decoded.sortOrder == nil)
        var negative = Event()
        negative.typeRaw = -3
        // A negative int32 enum takes ten bytes, sign-extended, as protobuf requires.
        #expect(negative.serializedBytes().count == 11)
        #expect(try Event(serializedBytes: negative.serializedBytes()).typeRaw == -3)
    }

    @Test func lengthPrefixesAreWidenedAtEveryVarintBoundary() throws {
        for size in [0, 1, 126, 127, 128, 129, 16_383, 16_384, 16_385, 2_097_151, 2_097_152] {
            let value = PutResponse(header: nil, prevKV: KeyValue(key: Array(repeating: 7, count: size)))
            let bytes = value.serializedBytes()
            #expect(try PutResponse(serializedBytes: bytes) == value, "size \(size)")
            // tag(2) + length(prevKV) + tag(1) + length(key) + key
            let expected = 1 + ProtoWriter.varintSize(UInt64(size + 1 + ProtoWriter.varintSize(UInt64(size)))) + 1
                + ProtoWriter.varintSize(UInt64(size)) + size
            #expect(bytes.count == (size == 0 ? 2 : expected), "size \(size)")
        }
    }

    @Test func varintSizeCountsSevenBitsPerByte() {
        #expect(ProtoWriter.varintSize(0) == 1)
        #expect(ProtoWriter.varintSize(127) == 1)
        #expect(ProtoWriter.varintSize(128) == 2)
        #expect(ProtoWriter.varintSize(UInt64(1) << 63) == 10)
        #expect(ProtoWriter.varintSize(.max) == 10)
        for shift in 0..<64 {
            let v = UInt64(1) << UInt64(shift)
            #expect(ProtoWriter.varintSize(v) == WireBytes.varint(v).count)
        }
    }

    @Test func v2RequestWritesNonNullableFieldsAlwaysAsEtcdDoes() throws {
        let request = V2Request(id: 0, method: "", path: "")
        // 15 always-written fields (prevExist and refresh unset): each a tag and one byte, and
        // field 16's tag takes two bytes.
        #expect(request.serializedBytes().count == 31)
        var set = request
        set.prevExist = false
        #expect(try V2Request(serializedBytes: set.serializedBytes()).prevExist == false)
        #expect(try V2Request(serializedBytes: request.serializedBytes()).prevExist == nil)
        #expect(WALMetadata(nodeID: 0, clusterID: 0).serializedBytes() == [0x08, 0x00, 0x10, 0x00])
    }

    @Test func internalRaftRequestWritesFieldsInNumberOrder() throws {
        var request = InternalRaftRequest(header: RequestHeader(id: 1), id: 0)
        request.authEnable = AuthEnableRequest()
        request.put = PutRequest(key: [1], value: [])
        let numbers = WireBytes.fields(request.serializedBytes()).map(\.field)
        #expect(numbers == [4, 100, 1000])
    }

    @Test func healthListEntriesAreWrittenInKeyOrder() throws {
        let response = HealthListResponse(statuses: ["b": HealthCheckResponse(status: .serving), "a": HealthCheckResponse(status: .notServing)])
        let entries = WireBytes.fields(response.serializedBytes())
        #expect(entries.count == 2)
        #expect(try HealthListResponse(serializedBytes: response.serializedBytes()) == response)
        // A key seen twice keeps the last value.
        var w = ProtoWriter()
        w.writeLengthDelimited(1) { e in e.writeString(1, "x"); e.writeMessage(2, HealthCheckResponse(status: .serving)) }
        w.writeLengthDelimited(1) { e in e.writeString(1, "x"); e.writeMessage(2, HealthCheckResponse(status: .notServing)) }
        #expect(try HealthListResponse(serializedBytes: w.bytes).statuses == ["x": HealthCheckResponse(status: .notServing)])
    }
}
