import EtcdProto
import Logging
import MVCC
import NIOCore
import Synchronization
import Transport

/// One revision's changes for one watcher.
struct WatchDelivery: Sendable {
    var watchID: Int64
    var changes: [EncodedChange]
    var revision: Int64
}

/// One `Watch` gRPC stream: its watchers, the requests the client sends on it and the
/// responses the server sends back (etcd's `serverWatchStream`).
///
/// Threading: every method that touches state runs on the stream's event loop. The hub calls
/// `deliver`, `deliverCatchUp`, `resynced`, `compacted` and `progressNotify` from other threads;
/// they hop to the event loop, in call order. `isCongested` is read by the hub's catch-up thread.
///
/// Back-pressure: before sending live events the session checks how many bytes its stream still
/// holds (`pendingOutboundBytes`); above `congestionBytesMax` the watcher is demoted to catch-up
/// from the first revision not sent, so a slow client costs bounded memory and delays nobody.
final class WatchSession: GRPCStreamObserver, @unchecked Sendable {
    /// Bytes queued on the stream above which live events stop and catch-up takes over.
    static let congestionBytesMax = 4 << 20

    struct Watch {
        var spec: WatchSpec
        /// The highest revision whose events were sent (or deliberately skipped).
        var sentUpTo: Int64
        /// Demoted: live deliveries are dropped until the hub says it is synced again.
        var lagging = false
        /// Events went out since the last progress tick (etcd skips the notification then).
        var sentSinceProgress = false
    }

    let id: UInt64
    private let stream: any GRPCServerStream
    private let eventLoop: any EventLoop
    private let hub: WatchHub
    private let server: EtcdServerCore
    private var watches: [Int64: Watch] = [:]
    private var nextWatchID: Int64 = 0
    private var progressRequested = false
    private var closed = false
    private let congested = Atomic<Bool>(false)

    init(id: UInt64, stream: any GRPCServerStream, eventLoop: any EventLoop, hub: WatchHub, server: EtcdServerCore) {
        self.id = id
        self.stream = stream
        self.eventLoop = eventLoop
        self.hub = hub
        self.server = server
    }

    var isCongested: Bool { congested.load(ordering: .relaxed) }

    // MARK: GRPCStreamObserver (event loop)

    func received(_ message: [UInt8]) {
        let request: WatchRequest
        do {
            request = try WatchRequest(serializedBytes: message)
        } catch {
            close(GRPCStatus(.internal, "grpc: error unmarshalling request: \(error)"))
            return
        }
        switch request.requestUnion {
        case .createRequest(let create)?: self.create(create)
        case .cancelRequest(let cancel)?: self.cancel(cancel.watchID)
        case .progressRequest?: progressRequest()
        case nil: break
        }
    }

    func receivedEnd() {
        // etcd keeps serving a half-closed watch stream until the client goes away; the
        // watchers stay until then.
    }

    func cancelled() {
        closed = true
        hub.removeAll(session: id)
        watches.removeAll()
    }

    private func close(_ status: GRPCStatus) {
        closed = true
        hub.removeAll(session: id)
        watches.removeAll()
        stream.finish(status)
    }

    // MARK: requests

    private func create(_ request: WatchCreateRequest) {
        // etcd's normalisation: an empty key is "\0"; range_end "\0" means every key ≥ key.
        let key = request.key.isEmpty ? [0] : request.key
        let keys = KeyRange(key: key, rangeEnd: request.rangeEnd)
        let current = hub.publishedRevision
        var response = WatchResponse()
        response.header = server.header(revision: current)
        response.created = true
        if case .interval(let start, let end?) = keys, !KeyRangeCompare.less(start, end) {
            response.watchID = -1
            response.canceled = true
            response.cancelReason = "mvcc: watcher range is empty"
            send(response)
            return
        }
        var watchID = request.watchID
        if watchID != 0 {
            if watches[watchID] != nil {
                response.watchID = watchID
                response.canceled = true
                response.cancelReason = "mvcc: duplicate watch ID provided on the WatchStream"
                send(response)
                return
            }
        } else {
            while watches[nextWatchID] != nil { nextWatchID += 1 }
            watchID = nextWatchID
            nextWatchID += 1
        }
        let filters = request.filters
        let start = request.startRevision == 0 ? current + 1 : request.startRevision
        let spec = WatchSpec(
            keys: keys, startRevision: start, noPut: filters.contains(.noPut), noDelete: filters.contains(.noDelete),
            prevKV: request.prevKV, progressNotify: request.progressNotify, fragment: request.fragment)
        watches[watchID] = Watch(spec: spec, sentUpTo: start - 1)
        response.watchID = watchID
        // The created response goes out before any event of this watcher.
        send(response)
        hub.add(WatcherKey(session: id, watchID: watchID), spec: spec, session: self)
    }

    private func cancel(_ watchID: Int64) {
        guard watches.removeValue(forKey: watchID) != nil else { return }
        hub.remove(WatcherKey(session: id, watchID: watchID))
        var response = WatchResponse()
        response.header = server.header(revision: hub.publishedRevision)
        response.watchID = watchID
        response.canceled = true
        send(response)
        answerProgressIfSynced()
    }

    /// etcd 3.5: answered (watch ID -1, header revision = progress) only once every watcher of
    /// the stream is synced, so the revision is a promise about all of them.
    private func progressRequest() {
        progressRequested = true
        answerProgressIfSynced()
    }

    private func answerProgressIfSynced() {
        guard progressRequested, hub.allSynced(session: id) else { return }
        progressRequested = false
        var response = WatchResponse()
        response.header = server.header(revision: hub.publishedRevision)
        response.watchID = -1
        send(response)
    }

    // MARK: from the hub (any thread → event loop)

    func deliver(_ deliveries: [WatchDelivery]) {
        eventLoop.execute { self.deliverLive(deliveries) }
    }

    private func deliverLive(_ deliveries: [WatchDelivery]) {
        guard !closed else { return }
        for d in deliveries {
            guard var w = watches[d.watchID], !w.lagging, d.revision > w.sentUpTo else { continue }
            if stream.pendingOutboundBytes > Self.congestionBytesMax {
                w.lagging = true
                watches[d.watchID] = w
                congested.store(true, ordering: .relaxed)
                hub.demote(WatcherKey(session: id, watchID: d.watchID), from: w.sentUpTo + 1)
                continue
            }
            sendEvents(d.watchID, &w, d.changes, headerRevision: d.revision, upTo: d.revision)
            watches[d.watchID] = w
        }
    }

    func deliverCatchUp(watchID: Int64, changes: [EncodedChange], upTo: Int64, storeRevision: Int64) {
        eventLoop.execute {
            guard !self.closed, var w = self.watches[watchID] else { return }
            let fresh = changes.filter { $0.revision > w.sentUpTo }
            if !fresh.isEmpty {
                self.sendEvents(watchID, &w, fresh, headerRevision: storeRevision, upTo: upTo)
            } else {
                w.sentUpTo = max(w.sentUpTo, upTo)
            }
            self.watches[watchID] = w
        }
    }

    func resynced(watchID: Int64) {
        eventLoop.execute {
            guard !self.closed, var w = self.watches[watchID] else { return }
            w.lagging = false
            self.watches[watchID] = w
            self.answerProgressIfSynced()
        }
    }

    func compacted(watchID: Int64, compactRevision: Int64) {
        eventLoop.execute {
            guard !self.closed, self.watches.removeValue(forKey: watchID) != nil else { return }
            var response = WatchResponse()
            response.header = self.server.header(revision: self.hub.publishedRevision)
            response.watchID = watchID
            response.compactRevision = compactRevision
            response.canceled = true
            self.send(response)
        }
    }

    func progressNotify(watchID: Int64, revision: Int64) {
        eventLoop.execute {
            guard !self.closed, var w = self.watches[watchID], !w.lagging else { return }
            if w.sentSinceProgress {
                w.sentSinceProgress = false
                self.watches[watchID] = w
                return
            }
            var response = WatchResponse()
            response.header = self.server.header(revision: revision)
            response.watchID = watchID
            self.send(response)
        }
    }

    func refreshCongestionSoon() {
        eventLoop.execute {
            self.congested.store(self.stream.pendingOutboundBytes > Self.congestionBytesMax / 2, ordering: .relaxed)
        }
    }

    // MARK: sending

    private func sendEvents(_ watchID: Int64, _ w: inout Watch, _ changes: [EncodedChange], headerRevision: Int64, upTo: Int64) {
        let header = server.header(revision: headerRevision)
        if w.spec.fragment {
            sendFragmented(header: header, watchID: watchID, changes, prevKV: w.spec.prevKV)
        } else {
            stream.send(WatchResponseEncoder.encode(header: header, watchID: watchID, events: changes, prevKV: w.spec.prevKV))
        }
        w.sentUpTo = max(w.sentUpTo, upTo)
        w.sentSinceProgress = true
    }

    /// Splits a response larger than `--max-request-bytes` into fragments (all but the last
    /// marked `fragment`), as etcd does for watchers that asked for it.
    private func sendFragmented(header: ResponseHeader, watchID: Int64, _ changes: [EncodedChange], prevKV: Bool) {
        let limit = server.config.maxRequestBytes
        var part: [EncodedChange] = []
        var size = 0
        for (i, change) in changes.enumerated() {
            let bytes = (prevKV ? change.eventWithPrevKV.count : change.event.count) + 8
            if !part.isEmpty && size + bytes > limit {
                stream.send(WatchResponseEncoder.encode(header: header, watchID: watchID, events: part, prevKV: prevKV, fragment: true))
                part = []
                size = 0
            }
            part.append(change)
            size += bytes
            if i == changes.count - 1 {
                stream.send(WatchResponseEncoder.encode(header: header, watchID: watchID, events: part, prevKV: prevKV))
            }
        }
    }

    private func send(_ response: WatchResponse) {
        stream.send(response.serializedBytes())
    }
}
