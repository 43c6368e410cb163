/// Response bytes a connection has queued for its peer and not yet handed to nghttp2, and
/// whether the connection should go on reading: the state machine behind
/// `HTTP2ServerHandler`'s output back-pressure, with no nghttp2 and no NIO.
///
/// While the channel is writable, reads always go on. While it is not (the peer is not reading
/// what we send), reads go on only until `bytesMaxWhileUnwritable` are queued: reading on is what
/// lets WINDOW_UPDATE and PING frames through to a peer that is merely slow, but a peer that
/// never reads must not make answers pile up without bound. A read held back is issued as soon
/// as the channel is writable again.
///
/// The same count gates new work: a unary call or plain HTTP request is dispatched (and so its
/// answer computed) only while fewer than `responseBytesMax` bytes wait for the peer; later ones
/// wait their turn, in order, until the backlog has drained to half of that. A client that sends
/// requests and never reads the answers so costs about `responseBytesMax` plus one answer, not
/// one answer per request. (Streaming calls bound themselves: a watch demotes its watchers when
/// its stream is congested.)
///
/// Calls whose answer is small whatever the store holds (`GRPCAnswerSize.bounded`: a Put, a
/// lease grant) have a gate of their own, `boundedAnswerBytesMax`, and do not queue behind the
/// others: a write on a connection that is also downloading megabytes of ranges goes as soon as
/// it arrives (etcd answers it at once too), while a client that never reads still costs at most
/// that limit plus one answer.
///
/// Invariant: `queuedBytes ≥ 0`; bytes leave only after they were queued (preconditions).
struct SendBacklog {
    enum ReadDecision: Equatable {
        case read
        case hold
    }

    let bytesMaxWhileUnwritable: Int
    let responseBytesMax: Int
    let boundedAnswerBytesMax: Int
    private(set) var queuedBytes = 0
    /// A read was held back and is owed once the channel is writable.
    private(set) var readHeld = false
    /// Streams whose call waits to be dispatched, in arrival order, with their answer class.
    private var waiting: [(id: Int32, answer: GRPCAnswerSize)] = []

    /// Streams whose call waits to be dispatched, in arrival order.
    var waitingCalls: [Int32] { waiting.map(\.id) }
    var hasWaitingCalls: Bool { !waiting.isEmpty }

    init(bytesMaxWhileUnwritable: Int, responseBytesMax: Int, boundedAnswerBytesMax: Int) {
        precondition(bytesMaxWhileUnwritable > 0 && responseBytesMax > 0, "a backlog that holds everything at once")
        precondition(boundedAnswerBytesMax >= responseBytesMax, "small answers gated harder than large ones")
        self.bytesMaxWhileUnwritable = bytesMaxWhileUnwritable
        self.responseBytesMax = responseBytesMax
        self.boundedAnswerBytesMax = boundedAnswerBytesMax
    }

    /// A unary call or HTTP request is ready: true to dispatch it now, false when it must wait
    /// (it is then handed back by `callsToDispatch`). A call waits behind earlier waiting calls
    /// of its gate: every waiting call for an unbounded answer, only bounded ones for a bounded.
    mutating func mayDispatch(_ streamID: Int32, answer: GRPCAnswerSize = .unbounded) -> Bool {
        switch answer {
        case .unbounded:
            if queuedBytes < responseBytesMax && waiting.isEmpty { return true }
        case .bounded:
            if queuedBytes < boundedAnswerBytesMax && !waiting.contains(where: { $0.answer == .bounded }) { return true }
        }
        waiting.append((streamID, answer))
        return false
    }

    /// The waiting calls to try again, in order, once the backlog is at most half of their gate's
    /// limit (each goes through `mayDispatch` again: those that still cannot go wait again, in
    /// order).
    mutating func callsToDispatch() -> [Int32] {
        guard !waiting.isEmpty else { return [] }
        if queuedBytes <= responseBytesMax / 2 {
            defer { waiting.removeAll() }
            return waitingCalls
        }
        guard queuedBytes <= boundedAnswerBytesMax / 2 else { return [] }
        let ready = waiting.filter { $0.answer == .bounded }.map(\.id)
        waiting.removeAll { $0.answer == .bounded }
        return ready
    }

    /// `bytes` of response were queued on a stream.
    mutating func queued(_ bytes: Int) {
        precondition(bytes >= 0, "queueing a negative count")
        queuedBytes += bytes
    }

    /// `bytes` of queued response left: taken by nghttp2 for frames, or dropped with their
    /// stream.
    mutating func left(_ bytes: Int) {
        precondition(bytes >= 0 && bytes <= queuedBytes, "\(bytes) bytes left a backlog of \(queuedBytes)")
        queuedBytes -= bytes
    }

    /// The pipeline asks for a read.
    mutating func read(channelWritable: Bool) -> ReadDecision {
        if channelWritable || queuedBytes < bytesMaxWhileUnwritable { return .read }
        readHeld = true
        return .hold
    }

    /// The channel became writable: true if a held read must be issued now.
    mutating func becameWritable() -> Bool {
        defer { readHeld = false }
        return readHeld
    }

    /// The connection is gone: nothing is owed any more.
    mutating func reset() {
        queuedBytes = 0
        readHeld = false
        waiting.removeAll()
    }
}
