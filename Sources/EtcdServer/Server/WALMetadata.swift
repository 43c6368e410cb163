import EtcdProto

/// etcd's `etcdserverpb.Metadata` (etcdserver.proto: node_id = 1, cluster_id = 2), written at the
/// start of every WAL segment so that a restarted member knows who it is.
struct WALMetadata: ProtoMessage {
    var nodeID: UInt64 = 0
    var clusterID: UInt64 = 0

    init() {}

    init(nodeID: UInt64, clusterID: UInt64) {
        self.nodeID = nodeID
        self.clusterID = clusterID
    }

    func encode(to w: inout ProtoWriter) {
        w.writeUInt64Always(1, nodeID)
        w.writeUInt64Always(2, clusterID)
    }

    mutating func decodeField(_ field: Int, _ wt: WireType, from r: inout ProtoReader) throws(ProtoDecodingError) {
        switch field {
        case 1: nodeID = try r.readUInt64(field, wt)
        case 2: clusterID = try r.readUInt64(field, wt)
        default: try r.skipField(wt)
        }
    }
}
