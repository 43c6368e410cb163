import EtcdProto
import MVCC
import Synchronization
import Transport

/// One `Election.Observe` stream (etcd's `Election.observe`): the current leader, then every
/// value it proclaims, then, once its key is deleted, the next leader (waiting for a first
/// candidate when there is none). It ends with OK when a read fails, as etcd's does.
///
/// A tap on the election's prefix is added before the first read and kept for the stream's life,
/// so no change between a read and the wait after it is missed; changes at or below the revision
/// a read saw are skipped. The transport calls `received`/`cancelled` on the connection's event
/// loop; the loop itself is a task.
final class ElectionObserver: GRPCStreamObserver, @unchecked Sendable {
    /// A client that does not read its answers is cut off past this many unsent bytes.
    static let outboundBytesMax = 16 << 20

    private let stream: any GRPCServerStream
    private let client: LocalClient
    private let events: AsyncStream<KeyTapEvent>
    private let feed: AsyncStream<KeyTapEvent>.Continuation
    /// Set on the event loop when the request arrives; the task owns the rest.
    private var started = false
    private var tap: UInt64?

    init(stream: any GRPCServerStream, client: LocalClient) {
        self.stream = stream
        self.client = client
        (events, feed) = AsyncStream<KeyTapEvent>.makeStream()
    }

    func received(_ message: [UInt8]) {
        guard !started else { return }
        started = true
        let request: LeaderRequest
        do {
            request = try LeaderRequest(serializedBytes: message)
        } catch {
            stream.finish(ServiceSupport.decodeFailure(error))
            return
        }
        let prefix = ConcurrencyRecipes.prefix(request.name)
        let feed = self.feed
        tap = client.taps.add(.interval(start: prefix, end: ConcurrencyRecipes.prefixEnd(prefix))) { feed.yield($0) }
        let events = self.events
        let stream = self.stream
        let client = self.client
        let tap = self.tap!
        Task {
            let status = await Self.observe(prefix, events: events, stream: stream, client: client)
            client.taps.remove(tap)
            stream.finish(status)
        }
    }

    func receivedEnd() {}

    func cancelled() {
        feed.finish()
    }

    private enum Follow {
        case next
        case ended
    }

    private static func observe(_ prefix: [UInt8], events: AsyncStream<KeyTapEvent>, stream: any GRPCServerStream, client: LocalClient) async -> GRPCStatus {
        var feed = ChangeFeed(iterator: events.makeAsyncIterator())
        while !stream.isCancelled {
            guard let first = try? await client.range(ConcurrencyRecipes.firstCreated(prefix)) else { return .ok }
            var leader: (header: ResponseHeader, kv: KeyValue)
            if let kv = first.kvs.first {
                leader = (first.header ?? ResponseHeader(), kv)
            } else {
                // No candidate: the first put under the prefix after the read.
                let seen = first.header?.revision ?? 0
                guard let put = await feed.next(where: { !$0.isDelete && $0.kv.modRevision > seen }) else { return .ok }
                guard let change = put else { continue }
                leader = (client.server.header(revision: change.kv.modRevision), change.kv)
            }
            guard send(LeaderResponse(header: leader.header, kv: leader.kv), stream) else { return overflow }
            // Follow the leader's key until it is deleted.
            let key = leader.kv.key
            let from = leader.header.revision
            while true {
                guard let next = await feed.next(where: { $0.kv.key == key && $0.kv.modRevision > from }) else { return .ok }
                guard let change = next, !change.isDelete else { break }
                guard send(LeaderResponse(header: client.server.header(revision: change.kv.modRevision), kv: change.kv), stream) else { return overflow }
            }
        }
        return .ok
    }

    private static let overflow = GRPCStatus(.resourceExhausted, "election: observer does not read its answers")

    private static func send(_ response: LeaderResponse, _ stream: any GRPCServerStream) -> Bool {
        guard stream.pendingOutboundBytes <= outboundBytesMax else { return false }
        stream.send(response.serializedBytes())
        return true
    }
}

/// The tap's changes one at a time (a batch may hold several for one observer).
private struct ChangeFeed {
    var iterator: AsyncStream<KeyTapEvent>.Iterator
    var pending: ArraySlice<MVCCChange> = []

    /// The next change that matches, `.some(nil)` when the store was replaced (read again), nil
    /// when the stream ended.
    mutating func next(where matches: (MVCCChange) -> Bool) async -> MVCCChange?? {
        while true {
            while let change = pending.popFirst() {
                if matches(change) { return .some(change) }
            }
            switch await iterator.next() {
            case nil: return nil
            case .storeReplaced?: return .some(nil)
            case .changes(let changes)?: pending = changes[...]
            }
        }
    }
}
