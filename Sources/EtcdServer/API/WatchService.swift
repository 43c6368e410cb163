import EtcdProto
import Synchronization
import Transport

/// `etcdserverpb.Watch/Watch`: one `WatchSession` per bidirectional stream.
struct WatchService {
    let server: EtcdServerCore
    let hub: WatchHub
    private static let nextSessionID = Atomic<UInt64>(1)

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        let hub = self.hub
        router.register("/etcdserverpb.Watch/Watch", .streaming(kind: .bidirectionalStreaming) { context, stream in
            // Kubernetes watches with `hasleader=true`: without a leader the stream fails at once.
            if let error = ServiceSupport.leaderCheck(context, server) {
                stream.finish(error.status)
                return ClosedStreamObserver()
            }
            let id = Self.nextSessionID.wrappingAdd(1, ordering: .relaxed).oldValue
            let session = WatchSession(id: id, stream: stream, eventLoop: context.eventLoop, hub: hub, server: server)
            if context.metadata[ServiceSupport.requireLeaderKey] == "true" {
                server.leaderLoss.register(.init(isDone: { stream.isCancelled || session.isClosed }, end: { session.end($0) }))
            }
            return session
        })
    }
}
