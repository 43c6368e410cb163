import NIOConcurrencyHelpers
import NIOCore

/// Carries responses from any thread to one connection's `HTTP2ServerHandler`.
///
/// Operations are queued under a lock; the first operation queued into an empty queue schedules
/// one event-loop task that applies every queued operation in order and then writes the socket
/// once. Under load (a raft batch completing a hundred calls on the same connection) that is one
/// wake-up and one write instead of a hundred. From the event loop itself the operation is applied
/// at once.
final class HTTP2ConnectionSink: @unchecked Sendable {
    enum Operation {
        case message(Int32, [UInt8])
        case messages(Int32, [[UInt8]])
        case finish(Int32, GRPCStatus)
        /// A unary call's single response followed by OK trailers.
        case reply(Int32, [UInt8])
        case http(Int32, HTTPResponse)
    }

    let eventLoop: any EventLoop
    /// Set and cleared on the event loop only.
    var handler: HTTP2ServerHandler?
    private let lock = NIOLock()
    private var queue: [Operation] = []

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func submit(_ operation: Operation) {
        if eventLoop.inEventLoop {
            // Keep order with anything queued from other threads before this.
            if lock.withLock({ !queue.isEmpty }) { drain() }
            // Sends made on the loop (a watch session fanning one revision out to a hundred
            // watchers) are written together at the end of this loop tick, not one by one.
            handler?.applyDeferringFlush(operation)
            return
        }
        let wasEmpty = lock.withLock { () -> Bool in
            queue.append(operation)
            return queue.count == 1
        }
        if wasEmpty {
            eventLoop.execute { self.drain() }
        }
    }

    private func drain() {
        let batch = lock.withLock { () -> [Operation] in
            let b = queue
            queue.removeAll(keepingCapacity: true)
            return b
        }
        guard let handler, !batch.isEmpty else { return }
        handler.applyBatch(batch)
    }

    /// Reads handler state; callers off the loop get an approximate answer.
    func query<R>(_ body: @escaping (HTTP2ServerHandler?) -> R, default value: R) -> R {
        if eventLoop.inEventLoop { return body(handler) }
        return value
    }
}

/// The handle a method implementation holds: a unary responder or a server stream, bound to one
/// stream of one connection. Sendable; every operation goes through the connection's sink.
struct HTTP2CallHandle: GRPCUnaryResponder, GRPCServerStream {
    let sink: HTTP2ConnectionSink
    let streamID: Int32
    /// Shared with the handler, which marks it cancelled and counts the bytes HTTP/2 took, so
    /// callers off the event loop get true answers too.
    let state: CallHandleState

    init(sink: HTTP2ConnectionSink, streamID: Int32, state: CallHandleState = CallHandleState()) {
        self.sink = sink
        self.streamID = streamID
        self.state = state
    }

    func respond(_ message: [UInt8]) {
        guard state.complete() else { return }
        sink.submit(.reply(streamID, message))
    }

    func fail(_ status: GRPCStatus) {
        guard state.complete() else { return }
        sink.submit(.finish(streamID, status))
    }

    func send(_ message: [UInt8]) {
        guard !state.isCompleted else { return }
        state.addPending(message.count + GRPCMessageDeframer.prefixBytes)
        sink.submit(.message(streamID, message))
    }

    func send(batch messages: [[UInt8]]) {
        guard !state.isCompleted, !messages.isEmpty else { return }
        var bytes = 0
        for m in messages { bytes += m.count + GRPCMessageDeframer.prefixBytes }
        state.addPending(bytes)
        sink.submit(.messages(streamID, messages))
    }

    func finish(_ status: GRPCStatus) {
        guard state.complete() else { return }
        sink.submit(.finish(streamID, status))
    }

    func respondHTTP(_ response: HTTPResponse) {
        guard state.complete() else { return }
        sink.submit(.http(streamID, response))
    }

    var pendingOutboundBytes: Int {
        let id = streamID
        return sink.query({ $0?.outboundBytes(id) ?? 0 }, default: state.pending)
    }

    /// On the loop the handler's own answer; elsewhere the flag the handler sets. (Off the loop
    /// this used to be a constant `false`: a producer on another thread never saw a cancel.)
    var isCancelled: Bool {
        let id = streamID
        return sink.query({ $0?.isCancelled(id) ?? true }, default: state.isCancelled)
    }

    func whenCancelled(_ handler: @escaping @Sendable () -> Void) {
        state.whenCancelled(handler)
    }
}

/// Completion and cancellation flags and a pending-bytes counter shared by copies of one call
/// handle and by the connection's handler. `pending` is bytes passed to `send` minus bytes
/// HTTP/2 has taken (the handler reports those with `drained`). Any thread.
final class CallHandleState: @unchecked Sendable {
    private let lock = NIOLock()
    private var completed = false
    private var cancelled = false
    private var pendingBytes = 0
    private var cancelHandlers: [@Sendable () -> Void] = []

    /// True the first time only.
    func complete() -> Bool {
        lock.withLock {
            if completed { return false }
            completed = true
            return true
        }
    }

    var isCompleted: Bool { lock.withLock { completed } }

    func addPending(_ n: Int) { lock.withLock { pendingBytes += n } }

    /// `n` framed message bytes left for the peer.
    func drained(_ n: Int) { lock.withLock { pendingBytes = max(0, pendingBytes - n) } }

    var pending: Int { lock.withLock { pendingBytes } }

    /// The call is over for the transport (cancelled, deadline passed, stream or connection
    /// closed); set by the handler on the event loop.
    func markCancelled() {
        let handlers: [@Sendable () -> Void] = lock.withLock {
            if cancelled { return [] }
            cancelled = true
            defer { cancelHandlers = [] }
            return cancelHandlers
        }
        for handler in handlers { handler() }
    }

    /// Runs `handler` once the call is over (at once if it is already), on the thread that ends it.
    func whenCancelled(_ handler: @escaping @Sendable () -> Void) {
        let now: Bool = lock.withLock {
            if cancelled { return true }
            cancelHandlers.append(handler)
            return false
        }
        if now { handler() }
    }

    var isCancelled: Bool { lock.withLock { cancelled } }
}
