import EtcdProto
import MVCC
import Testing
import Transport
@testable import EtcdServer

/// The parts of `/metrics` that are computed rather than read: how a request's operations are
/// counted (etcd's metricsTxnWrite), the live-key count across its first count, gRPC labels.
@Suite struct ServerMetricsTests {
    @Test func aTxnCountsTheOperationsOfTheBranchItRanNestedOnesIncluded() {
        let nested = TxnResponse(header: nil, succeeded: true, responses: [
            ResponseOp(.responsePut(PutResponse())), ResponseOp(.responseDeleteRange(DeleteRangeResponse())),
        ])
        let txn = TxnResponse(header: nil, succeeded: false, responses: [
            ResponseOp(.responseRange(RangeResponse())), ResponseOp(.responseTxn(nested)), ResponseOp(.responsePut(PutResponse())),
        ])
        var one = OpCounts()
        one.add(txn)
        var total = OpCounts()
        total.merge(one)
        #expect((total.puts, total.deletes, total.ranges, total.txns) == (2, 1, 1, 1))
        // A request of one operation is not a txn for etcd's counter.
        var single = OpCounts()
        single.puts = 1
        total.merge(single)
        #expect((total.puts, total.txns) == (3, 1))
    }

    @Test func liveKeysAddOnlyChangesAfterTheRevisionTheFirstCountReadAt() {
        let keys = LiveKeyCount()
        keys.observe([Self.put("ignored", 2)])  // before anyone asked: not kept
        let n = keys.value {
            // While counting at revision 5, changes at 5 (already counted) and 6 (not) arrive.
            keys.observe([Self.put("a", 5), Self.put("b", 6)])
            return (keys: 10, revision: 5)
        }
        #expect(n == 11)
        keys.observe([Self.put("c", 7), MVCCChange(kv: KeyValue(key: Array("a".utf8), modRevision: 8), isDelete: true)])
        // An update of an existing key (mod > create) changes nothing.
        keys.observe([MVCCChange(kv: KeyValue(key: Array("c".utf8), createRevision: 7, modRevision: 9, version: 2), isDelete: false)])
        #expect(keys.value { Issue.record("counted twice"); return nil } == 11)
        keys.reset()
        #expect(keys.value { (keys: 3, revision: 9) } == 3)
    }

    @Test func grpcLabelsAreGoGRPCPrometheusLabels() {
        let labels = GRPCServerMetrics.labels("/etcdserverpb.Watch/Watch", .bidirectionalStreaming)
        #expect(labels.map(\.1) == ["Watch", "etcdserverpb.Watch", "bidi_stream"])
        #expect(GRPCServerMetrics.goName(.cancelled) == "Canceled")
        #expect(GRPCServerMetrics.goName(.deadlineExceeded) == "DeadlineExceeded")
    }

    static func put(_ key: String, _ revision: Int64) -> MVCCChange {
        MVCCChange(kv: KeyValue(key: Array(key.utf8), createRevision: revision, modRevision: revision, version: 1), isDelete: false)
    }
}
