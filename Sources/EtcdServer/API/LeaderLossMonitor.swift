import NIOCore
import Synchronization
import Transport

/// etcd's `monitorLeader`: a stream opened with `hasleader=true` metadata (Kubernetes watches
/// so) is ended with `etcdserver: no leader` once the member has had no leader for
/// `noLeaderChecksMax` election timeouts in a row — so that its client moves to a member that
/// can see the cluster, rather than wait on one cut off from it. New such streams are refused
/// at once while there is no leader (`ServiceSupport.leaderCheck`).
///
/// Threading: `register` from any thread; the checks run on one event loop.
final class LeaderLossMonitor: Sendable {
    /// etcd's `maxNoLeaderCnt`.
    static let noLeaderChecksMax = 3

    struct Entry: Sendable {
        /// Whether the stream ended on its own (then it is forgotten).
        let isDone: @Sendable () -> Bool
        /// Ends the stream with the given status.
        let end: @Sendable (GRPCStatus) -> Void
    }

    private let entries = Mutex<[Entry]>([])
    private let task = Mutex<RepeatedTask?>(nil)

    func register(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    func start(on eventLoop: any EventLoop, electionTimeout: TimeAmount, hasLeader: @escaping @Sendable () -> Bool) {
        let count = Mutex(0)
        let repeated = eventLoop.scheduleRepeatedTask(initialDelay: electionTimeout, delay: electionTimeout) { [self] _ in
            let noLeaderChecks = count.withLock { n -> Int in
                n = hasLeader() ? 0 : n + 1
                return n
            }
            let ending = entries.withLock { list -> [Entry] in
                list.removeAll { $0.isDone() }
                guard noLeaderChecks >= Self.noLeaderChecksMax else { return [] }
                defer { list = [] }
                return list
            }
            for entry in ending { entry.end(EtcdError.noLeader.status) }
        }
        task.withLock { $0 = repeated }
    }

    func stop() {
        task.withLock { t in
            t?.cancel()
            t = nil
        }
    }
}
