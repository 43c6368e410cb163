import EtcdProto
import Transport

/// etcd's learner rule, as its gRPC interceptors apply it to every method: a learner answers
/// Status and serializable Range requests and nothing else; every other unary call and every
/// stream fails with `etcdserver: rpc not supported for learner` (UNAVAILABLE), so that clients
/// go to a voting member.
///
/// Installed in front of every registered handler once the router is complete. Whether this
/// member is a learner is read without a lock (`RaftNode.isLearner`); a Range request is decoded
/// a second time only on a learner.
enum LearnerGuard {
    static func install(_ router: inout GRPCRouter, raft: RaftNode) {
        router.intercept { path, handler in
            switch handler {
            case .unary(let answer, let body):
                if path == GRPCMethod.status.rawValue { return handler }
                let isRange = path == GRPCMethod.kvRange.rawValue
                return .unary(answer: answer) { context, bytes, responder in
                    if raft.isLearner && !(isRange && isSerializableRange(bytes)) {
                        return responder.fail(EtcdError.notSupportedForLearner.status)
                    }
                    body(context, bytes, responder)
                }
            case .streaming(let kind, let open):
                return .streaming(kind: kind) { context, stream in
                    guard raft.isLearner else { return open(context, stream) }
                    stream.finish(EtcdError.notSupportedForLearner.status)
                    return RefusedStream()
                }
            }
        }
    }

    /// Whether `bytes` is a RangeRequest with `serializable` set (one that does not decode is
    /// left to the Range handler, which answers grpc-go's decode error).
    private static func isSerializableRange(_ bytes: [UInt8]) -> Bool {
        guard let request = try? RangeRequest(serializedBytes: bytes) else { return true }
        return request.serializable
    }

    /// A stream refused at its start: whatever the client still sends is dropped.
    private final class RefusedStream: GRPCStreamObserver {
        func received(_ message: [UInt8]) {}
        func receivedEnd() {}
        func cancelled() {}
    }
}
