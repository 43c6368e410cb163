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
/// Invariant: `queuedBytes ≥ 0`; bytes leave only after they were queued (preconditions).
struct SendBacklog {
    enum ReadDecision: Equatable {
        case read
        case hold
    }

    let bytesMaxWhileUnwritable: Int
    let responseBytesMax: Int
    private(set) var queuedBytes = 0
    /// A read was held back and is owed once the channel is writable.
    private(set) var readHeld = false
    /// Streams whose call waits to be dispatched, in arrival order.
    private(set) var waitingCalls: [Int32] = []

    init(bytesMaxWhileUnwritable: Int, responseBytesMax: Int) {
        precondition(bytesMaxWhileUnwritable > 0 && responseBytesMax > 0, "a backlog that holds everything at once")
        self.bytesMaxWhileUnwritable = bytesMaxWhileUnwritable
        self.responseBytesMax = responseBytesMax
    }

    /// A unary call or HTTP request is ready: true to dispatch it now, false when it must wait
    /// (it is then handed back by `callsToDispatch`).
    mutating func mayDispatch(_ streamID: Int32) -> Bool {
        if queuedBytes < responseBytesMax && waitingCalls.isEmpty { return true }
        waitingCalls.append(streamID)
        return false
    }

    /// The waiting calls to try again, in order, once the backlog is at most half the limit
    /// (each goes through `mayDispatch` again: those that still cannot go wait again, in order).
    mutating func callsToDispatch() -> [Int32] {
        guard !waitingCalls.isEmpty, queuedBytes <= responseBytesMax / 2 else { return [] }
        defer { waitingCalls.removeAll() }
        return waitingCalls
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
        waitingCalls.removeAll()
    }
}
