import EtcdProto
import Logging
import MVCC
import NIOCore
import Synchronization
import Transport

/// One revision's changes for one watcher.
struct WatchDelivery: @unchecked Sendable {
    var watch: SessionWatch
    var changes: [EncodedChange]
    var revision: Int64
}

/// A watcher as its session knows it. Event loop only (the hub just carries the reference).
final class SessionWatch {
    let id: Int64
    let spec: WatchSpec
    /// The highest revision whose events were sent (or deliberately skipped).
    var sentUpTo: Int64
    /// Demoted: live deliveries are dropped until the hub says it is synced again.
    var lagging = false
    /// Events went out since the last progress tick (etcd skips the notification then).
    var sentSinceProgress = false
    /// Cancelled or compacted: anything still in flight for it is dropped.
    var removed = false
    /// Its start revision was compacted: it was answered with the compact revision and left the
    /// hub, but (as in etcd's watch stream) its ID stays taken until the client cancels it, and
    /// the stream is not synced while it is there.
    var compacted = false

    init(id: Int64, spec: WatchSpec) {
        self.id = id
        self.spec = spec
        // A start revision of Int64.min (a client may send one) has no predecessor.
        self.sentUpTo = spec.startRevision == .min ? .min : spec.startRevision - 1
    }
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

    let id: UInt64
    private let stream: any GRPCServerStream
    private let eventLoop: any EventLoop
    private let hub: WatchHub
    private let server: EtcdServerCore
    private var watches: [Int64: SessionWatch] = [:]
    /// Deliveries queued by the hub (under its lock) and not yet handed to the event loop.
    private var queued: [WatchDelivery] = []
    private var nextWatchID: Int64 = 0
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
        closedFlag.store(true, ordering: .relaxed)
        hub.removeAll(session: id)
        for w in watches.values { w.removed = true }
        watches.removeAll()
    }

    private func close(_ status: GRPCStatus) {
        cancelled()
        stream.finish(status)
    }

    /// Whether the stream ended. Any thread (a racy read is fine: the caller polls).
    var isClosed: Bool { closedFlag.load(ordering: .relaxed) }
    private let closedFlag = Atomic<Bool>(false)

    /// Ends the stream from outside (no leader for too long). Any thread.
    func end(_ status: GRPCStatus) {
        eventLoop.execute {
            guard !self.closed else { return }
            self.close(status)
        }
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
                // etcd's watch stream answers a taken ID with ID -1 (`ErrWatcherDuplicateID`).
                response.watchID = -1
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
        // etcd: 0 is "from the next revision"; a revision at or before the current one is
        // caught up from history, and one below the compacted revision (any negative one
        // included: etcd's store starts at compacted -1) is answered as compacted.
        var start = request.startRevision == 0 ? current + 1 : request.startRevision
        if start < 1 && start >= hub.compactedRevision {
            // Only -1 on a never-compacted store: etcd reads its history from the revision key
            // of -1, past every real one, and so sends nothing old; it watches from now.
            start = current + 1
        }
        let spec = WatchSpec(
            keys: keys, startRevision: start, noPut: filters.contains(.noPut), noDelete: filters.contains(.noDelete),
            prevKV: request.prevKV, progressNotify: request.progressNotify, fragment: request.fragment)
        let watch = SessionWatch(id: watchID, spec: spec)
        watches[watchID] = watch
        response.watchID = watchID
        // The created response goes out before any event of this watcher.
        send(response)
        hub.add(WatcherKey(session: id, watchID: watchID), spec: spec, session: self, watch: watch)
    }

    private func cancel(_ watchID: Int64) {
        guard let watch = watches.removeValue(forKey: watchID) else { return }
        watch.removed = true
        hub.remove(WatcherKey(session: id, watchID: watchID))
        var response = WatchResponse()
        response.header = server.header(revision: hub.publishedRevision)
        response.watchID = watchID
        response.canceled = true
        send(response)
    }

    /// etcd 3.5.16 (`progressIfSync`): answered (watch ID -1, header revision = progress) only
    /// when the stream has watchers and every one of them is synced right now, so the revision
    /// is a promise about all of them; otherwise the request is dropped, not deferred. A
    /// compacted watcher the client has not cancelled is never synced.
    private func progressRequest() {
        guard !watches.isEmpty, !watches.values.contains(where: \.compacted), hub.allSynced(session: id) else { return }
        var response = WatchResponse()
        response.header = server.header(revision: hub.publishedRevision)
        response.watchID = -1
        send(response)
    }

    // MARK: from the hub (any thread → event loop)

    /// Called by the hub under its lock: queues a delivery; returns true if this is the first
    /// since the last `flushDeliveries` (the hub then calls it once after routing).
    func queueDelivery(_ delivery: WatchDelivery) -> Bool {
        queued.append(delivery)
        return queued.count == 1
    }

    /// Called by the hub under its lock: hands the queued deliveries to the event loop.
    func flushDeliveries() {
        let batch = queued
        queued.removeAll(keepingCapacity: true)
        eventLoop.execute { self.deliverLive(batch) }
    }

    private func deliverLive(_ deliveries: [WatchDelivery]) {
        guard !closed else { return }
        // Checked once per batch; the responses go to the stream as one batch at the end.
        let congestedNow = stream.pendingOutboundBytes > Self.congestionBytesMax
        batching = true
        defer {
            flushOutgoing()
            batching = false
        }
        // A batch holds the revisions of one apply batch: a watcher's events across them go out
        // in one response (several revisions, each whole), not one response per revision —
        // clients pay per response far more than per event.
        var pending: [ObjectIdentifier: (SessionWatch, [EncodedChange], Int64)] = [:]
        var order: [ObjectIdentifier] = []
        for d in deliveries {
            let w = d.watch
            guard !w.removed, !w.lagging, d.revision > w.sentUpTo else { continue }
            if congestedNow {
                w.lagging = true
                congested.store(true, ordering: .relaxed)
                hub.demote(WatcherKey(session: id, watchID: w.id), from: w.sentUpTo + 1)
                continue
            }
            let key = ObjectIdentifier(w)
            if pending[key] == nil {
                order.append(key)
                pending[key] = (w, d.changes, d.revision)
            } else {
                pending[key]!.1.append(contentsOf: d.changes)
                pending[key]!.2 = d.revision
            }
        }
        for key in order {
            let (w, changes, revision) = pending[key]!
            sendEvents(w, changes, headerRevision: revision, upTo: revision)
        }
    }

    func deliverCatchUp(_ w: SessionWatch, changes: [EncodedChange], upTo: Int64, storeRevision: Int64) {
        eventLoop.execute {
            guard !self.closed, !w.removed else { return }
            let fresh = changes.filter { $0.revision > w.sentUpTo }
            if !fresh.isEmpty {
                self.sendEvents(w, fresh, headerRevision: storeRevision, upTo: upTo)
                // Catch-up is what fills a slow stream: tell the catch-up thread to hold off.
                if self.stream.pendingOutboundBytes > Self.congestionBytesMax {
                    self.congested.store(true, ordering: .relaxed)
                }
            } else {
                w.sentUpTo = max(w.sentUpTo, upTo)
            }
        }
    }

    func resynced(_ w: SessionWatch) {
        eventLoop.execute {
            guard !self.closed, !w.removed else { return }
            w.lagging = false
        }
    }

    func compacted(_ w: SessionWatch, compactRevision: Int64) {
        eventLoop.execute {
            guard !self.closed, !w.removed else { return }
            w.removed = true
            w.compacted = true
            // etcd's compacted response carries no revision of its own (header revision 0), and
            // its stream marks it canceled only when the compact revision is not 0. The watcher
            // is gone from the store but still known to the stream: its ID stays taken and a
            // later cancel of it is answered.
            var response = WatchResponse()
            response.header = self.server.header(revision: 0)
            response.watchID = w.id
            response.compactRevision = compactRevision
            response.canceled = compactRevision != 0
            self.send(response)
        }
    }

    func progressNotify(_ w: SessionWatch, revision: Int64) {
        eventLoop.execute {
            guard !self.closed, !w.removed, !w.lagging else { return }
            if w.sentSinceProgress {
                w.sentSinceProgress = false
                return
            }
            var response = WatchResponse()
            response.header = self.server.header(revision: revision)
            response.watchID = w.id
            self.send(response)
        }
    }

    /// Asked by the catch-up thread when it skipped this session: re-checks on the event loop,
    /// and keeps re-checking every `congestionRecheckMilliseconds` until the stream has drained
    /// below half the limit; then wakes the catch-up thread at once (no waiting for its tick).
    func refreshCongestionSoon() {
        eventLoop.execute { self.recheckCongestion() }
    }

    static let congestionRecheckMilliseconds: Int64 = 2
    private var recheckScheduled = false

    private func recheckCongestion() {
        guard !closed else { return }
        let stillCongested = stream.pendingOutboundBytes > Self.congestionBytesMax / 2
        congested.store(stillCongested, ordering: .relaxed)
        if !stillCongested {
            hub.signal()
            return
        }
        guard !recheckScheduled else { return }
        recheckScheduled = true
        eventLoop.scheduleTask(in: .milliseconds(Self.congestionRecheckMilliseconds)) {
            self.recheckScheduled = false
            self.recheckCongestion()
        }
    }

    // MARK: sending

    private var cachedHeader: (revision: Int64, header: ResponseHeader)?
    /// Responses of the delivery batch being processed, sent as one batch.
    private var outgoing: [[UInt8]] = []
    private var batching = false

    private func flushOutgoing() {
        if !outgoing.isEmpty { stream.send(batch: outgoing) }
        outgoing.removeAll(keepingCapacity: true)
    }

    private func sendEvents(_ w: SessionWatch, _ changes: [EncodedChange], headerRevision: Int64, upTo: Int64) {
        let watchID = w.id
        let header: ResponseHeader
        if let cached = cachedHeader, cached.revision == headerRevision {
            header = cached.header
        } else {
            header = server.header(revision: headerRevision)
            cachedHeader = (headerRevision, header)
        }
        if w.spec.fragment {
            flushOutgoing()
            sendFragmented(header: header, watchID: watchID, changes, prevKV: w.spec.prevKV)
        } else {
            let bytes = WatchResponseEncoder.encode(header: header, watchID: watchID, events: changes, prevKV: w.spec.prevKV)
            if batching { outgoing.append(bytes) } else { stream.send(bytes) }
        }
        w.sentUpTo = max(w.sentUpTo, upTo)
        w.sentSinceProgress = true
        server.metrics.watchEvents.increment(by: Int64(changes.count))
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
