import EtcdProto

/// Helpers that take encodings apart and build malformed ones by hand.
enum WireBytes {
    struct TopLevelField {
        let field: Int
        let wireType: WireType
        /// Byte range of the whole field (tag, length and body) in the message.
        let range: Range<Int>
    }

    /// The top-level fields of a well-formed encoding, in order.
    static func fields(_ bytes: [UInt8]) -> [TopLevelField] {
        bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            var out: [TopLevelField] = []
            while true {
                let start = raw.count - reader.bytesRemaining
                guard let (field, wireType) = try! reader.nextTag() else { break }
                try! reader.skipField(wireType)
                out.append(TopLevelField(field: field, wireType: wireType, range: start..<(raw.count - reader.bytesRemaining)))
            }
            return out
        }
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var w = ProtoWriter()
        w.writeVarint(value)
        return w.bytes
    }

    static func tag(_ field: Int, _ wireType: WireType) -> [UInt8] {
        var w = ProtoWriter()
        w.writeTag(field, wireType)
        return w.bytes
    }

    /// `depth` levels of `TxnRequest{success: [RequestOp{request_txn: ...}]}` around an empty
    /// TxnRequest, without recursion and in linear time (so any depth can be built): sizes are
    /// computed inside out, then the prefixes are written outside in.
    static func nestedTxnRequest(depth: Int) -> [UInt8] {
        // txnSizes[i]: size of the TxnRequest i levels from the innermost; opSizes[i]: of the
        // RequestOp around txnSizes[i - 1].
        var txnSizes = [0]
        var opSizes = [0]
        for i in 1...max(depth, 1) {
            let op = 1 + ProtoWriter.varintSize(UInt64(txnSizes[i - 1])) + txnSizes[i - 1]
            opSizes.append(op)
            txnSizes.append(1 + ProtoWriter.varintSize(UInt64(op)) + op)
        }
        var out: [UInt8] = []
        out.reserveCapacity(txnSizes[depth])
        for i in stride(from: depth, through: 1, by: -1) {
            out += tag(2, .lengthDelimited) + varint(UInt64(opSizes[i]))
            out += tag(4, .lengthDelimited) + varint(UInt64(txnSizes[i - 1]))
        }
        return out
    }

    /// The same nesting as values.
    static func nestedTxnValue(depth: Int) -> TxnRequest {
        var txn = TxnRequest()
        for _ in 0..<depth {
            txn = TxnRequest(compare: [], success: [RequestOp(.requestTxn(txn))])
        }
        return txn
    }
}
