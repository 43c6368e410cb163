import Dispatch
import EtcdProto
import Transport

/// One `KV.RangeStream` call (etcd 3.7): the answer to a `RangeRequest` as a stream of chunks,
/// all read at one revision, so that merging them gives exactly what `KV.Range` answers; only the
/// last chunk carries the header, `more` and `count`. Kubernetes prefers it for large lists: the
/// server never holds more than a chunk and the stream's send backlog.
///
/// A request sorted other than by key ascending, filtered by create/mod revision, or asking for
/// the count only is answered in one chunk (the whole Range), as etcd does.
///
/// Threading: `received` runs on the connection's event loop; chunks are read on a range reader
/// queue, one at a time; between chunks the call waits (re-checking every `backlogPoll`) while
/// more than `backlogBytesMax` are queued for the client, so a slow reader holds the server to
/// that much.
final class RangeStreamCall: GRPCStreamObserver, @unchecked Sendable {
    /// Bytes of kvs per chunk at most (or `--max-request-bytes` if smaller; a chunk holds at
    /// least one key).
    static let chunkBytesTarget = 1 << 20
    static let chunkKeysMax = 10_000
    static let firstChunkKeys = 16
    /// A kv's encoding beyond its key and value (revisions, version, lease, tags), about.
    static let kvOverheadBytes = 40
    /// Queued answer bytes above which the next chunk waits.
    static let backlogBytesMax = 4 << 20
    static let backlogPoll = DispatchTimeInterval.milliseconds(5)

    private let stream: any GRPCServerStream
    private let server: EtcdServerCore
    private var started = false

    init(stream: any GRPCServerStream, server: EtcdServerCore) {
        self.stream = stream
        self.server = server
    }

    func received(_ message: [UInt8]) {
        guard !started else { return }
        started = true
        let request: RangeRequest
        do {
            request = try RangeRequest(serializedBytes: message)
            try RequestValidation.check(request)
        } catch let error as EtcdError {
            return stream.finish(error.status)
        } catch {
            return stream.finish(ServiceSupport.decodeFailure(error))
        }
        let server = self.server
        let stream = self.stream
        server.whenReadable(serializable: request.serializable) { ready in
            if case .failure(let error) = ready { return stream.finish(error.status) }
            let queue = KVService.rangeReader()
            queue.async {
                guard Self.streamsInChunks(request) else {
                    switch server.range(request) {
                    case .success(let response): Self.send(response, stream)
                    case .failure(let error): stream.finish(error.status)
                    }
                    return
                }
                Self.start(request, server, stream, queue)
            }
        }
    }

    func receivedEnd() {}
    func cancelled() {}

    /// Key order, no revision filters, keys listed: chunks in key order are the Range's answer.
    static func streamsInChunks(_ r: RangeRequest) -> Bool {
        let byKey = r.sortOrder == RangeRequest.SortOrder.none || (r.sortOrder == .ascend && r.sortTarget == .key)
        return byKey && !r.countOnly && r.minModRevision == 0 && r.maxModRevision == 0
            && r.minCreateRevision == 0 && r.maxCreateRevision == 0
    }

    /// Pins the revision and counts what the range holds there (the last chunk's `count`).
    private static func start(_ request: RangeRequest, _ server: EtcdServerCore, _ stream: any GRPCServerStream, _ queue: DispatchQueue) {
        var counting = request
        counting.countOnly = true
        counting.limit = 0
        counting.sortOrderRaw = 0
        counting.sortTargetRaw = 0
        switch server.range(counting) {
        case .failure(let error):
            stream.finish(error.status)
        case .success(let counted):
            // Range's header names the store's revision at the read; the chunks read at the
            // request's revision, or at that one.
            var pinned = request
            if pinned.revision <= 0 { pinned.revision = counted.header?.revision ?? 0 }
            let state = ChunkState(request: pinned, count: counted.count, header: counted.header, next: request.key,
                                   remaining: request.limit > 0 ? request.limit : Int64.max, chunkKeys: firstChunkKeys)
            sendChunks(state, server, stream, queue)
        }
    }

    private struct ChunkState: Sendable {
        var request: RangeRequest
        var count: Int64
        var header: ResponseHeader?
        /// Where the next chunk starts.
        var next: [UInt8]
        /// Keys the request's limit still allows.
        var remaining: Int64
        var chunkKeys: Int
    }

    private static func sendChunks(_ state: ChunkState, _ server: EtcdServerCore, _ stream: any GRPCServerStream, _ queue: DispatchQueue) {
        var state = state
        while true {
            if stream.isCancelled { return }
            if stream.pendingOutboundBytes > backlogBytesMax {
                let waiting = state
                queue.asyncAfter(deadline: .now() + backlogPoll) { sendChunks(waiting, server, stream, queue) }
                return
            }
            var chunk = state.request
            chunk.key = state.next
            chunk.limit = min(Int64(state.chunkKeys), state.remaining)
            var read: RangeResponse
            switch server.range(chunk) {
            case .failure(let error): return stream.finish(error.status)
            case .success(let r): read = r
            }
            // At most `budget` bytes of kvs per chunk (one kv may be that large alone: a put is at
            // most --max-request-bytes); what is cut off starts the next chunk.
            let budget = min(chunkBytesTarget, server.config.maxRequestBytes)
            var kept = 0, bytes = 0, largest = 1
            for kv in read.kvs {
                let size = kv.key.count + kv.value.count + kvOverheadBytes
                largest = max(largest, size)
                if kept > 0 && bytes + size > budget { break }
                kept += 1
                bytes += size
            }
            let trimmed = kept < read.kvs.count
            if trimmed { read.kvs.removeLast(read.kvs.count - kept) }
            state.remaining -= Int64(kept)
            let last = !trimmed && (!read.more || state.remaining <= 0 || read.kvs.isEmpty)
            if last {
                var final = RangeResponse()
                final.header = state.header
                final.kvs = read.kvs
                final.count = state.count
                final.more = state.request.limit > 0 && state.count > state.request.limit
                return send(final, stream)
            }
            var partial = RangeResponse()
            partial.kvs = read.kvs
            stream.send(RangeStreamResponse(rangeResponse: partial).serializedBytes())
            // The next chunk starts right after this one's last key and asks for as many keys as
            // fit the budget if each were as large as the largest seen so far.
            state.next = read.kvs[read.kvs.count - 1].key + [0]
            state.chunkKeys = min(chunkKeysMax, max(1, budget / largest))
        }
    }

    private static func send(_ response: RangeResponse, _ stream: any GRPCServerStream) {
        stream.send(RangeStreamResponse(rangeResponse: response).serializedBytes())
        stream.finish(.ok)
    }
}
