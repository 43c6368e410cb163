import EtcdProto
import MVCC
import Testing
@testable import EtcdServer

@Suite struct WatchEncodingTests {
    let put = MVCCChange(kv: KeyValue(key: Array("k".utf8), createRevision: 2, modRevision: 5, version: 3, value: Array("v".utf8)),
                         isDelete: false, prevKV: KeyValue(key: Array("k".utf8), createRevision: 2, modRevision: 4, version: 2, value: Array("old".utf8)))
    let del = MVCCChange(kv: KeyValue(key: Array("k".utf8), modRevision: 6), isDelete: true)

    @Test func preEncodedResponsesDecodeToTheSameWatchResponse() throws {
        let header = ResponseHeader(clusterID: 1, memberID: 2, revision: 5, raftTerm: 3)
        let bytes = WatchResponseEncoder.encode(header: header, watchID: 9, events: [EncodedChange(put)], prevKV: true)
        let decoded = try WatchResponse(serializedBytes: bytes)
        var expected = WatchResponse()
        expected.header = header
        expected.watchID = 9
        expected.events = [Event(type: .put, kv: put.kv, prevKV: put.prevKV)]
        #expect(decoded == expected)
        let plain = try WatchResponse(serializedBytes: WatchResponseEncoder.encode(header: header, watchID: 0, events: [EncodedChange(put), EncodedChange(del)], prevKV: false))
        #expect(plain.events.map(\.prevKV) == [nil, nil])
        #expect(plain.events.map(\.type) == [.put, .delete])
        #expect(plain.watchID == 0)
    }

    @Test func filtersAndRangesDecideWhatAWatcherWants() {
        var spec = WatchSpec(keys: .interval(start: Array("a".utf8), end: Array("l".utf8)), startRevision: 1,
                             noPut: false, noDelete: true, prevKV: false, progressNotify: false, fragment: false)
        #expect(spec.wants(put))
        #expect(!spec.wants(del))
        spec.noDelete = false
        spec.noPut = true
        #expect(!spec.wants(put) && spec.wants(del))
        spec.keys = .single(Array("j".utf8))
        #expect(!spec.wants(del))
    }
}
