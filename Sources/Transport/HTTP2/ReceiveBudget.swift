/// The request bytes one connection may hold, and who may hold how much of them: the state
/// machine behind `HTTP2ServerHandler`'s receive flow control, with no nghttp2 and no NIO.
///
/// - **Held bytes**: DATA payload received on a stream and not yet released (partial messages,
///   a unary request waiting for END_STREAM, a plain HTTP body). Their sum is the connection's
///   buffered bytes and never exceeds `bytesMax`, the connection receive window: the peer cannot
///   send more than the window, and the handler reopens it only by releasing.
/// - **Admission**: a message larger than a stream window (`streamWindowBytes`) can only arrive
///   if its stream's window is widened to the whole message. Admitted messages together stay
///   within `admissionBytesMax` (half the budget), except that one is always admitted when none
///   is: streams wait their turn in arrival order, each holding at most one stream window
///   meanwhile, so many large concurrent uploads are taken a few at a time rather than all
///   stalling halfway with the budget full.
///
/// Methods return what the handler must tell nghttp2 (`Admitted`); invariants are preconditions,
/// never clamps: releasing more than a stream holds is a bug in the caller.
///
/// Invariants (checked by `checkInvariants`, and their cheap parts on every change):
/// `bufferedBytes == Σ held ≤ bytesMax`, `admittedBytes == Σ reserved`, a stream is never both
/// reserved and queued, and `admittedBytes ≤ admissionBytesMax` unless exactly one message is
/// admitted.
struct ReceiveBudget {
    /// A stream whose large message may now arrive: widen its window to `windowBytes`.
    struct Admitted: Equatable {
        var streamID: Int32
        var messageBytes: Int
        var windowBytes: Int
    }

    /// What became of a request for admission.
    enum AdmissionOutcome: Equatable {
        /// The message fits a stream window: nothing to admit.
        case notNeeded
        /// Admitted now.
        case admitted(Admitted)
        /// Queued behind earlier ones (or already waiting, or already admitted).
        case waiting
    }

    let bytesMax: Int
    let streamWindowBytes: Int
    var admissionBytesMax: Int { bytesMax / 2 }

    private(set) var bufferedBytes = 0
    private(set) var admittedBytes = 0
    private var held: [Int32: Int] = [:]
    private var reserved: [Int32: Int] = [:]
    /// Streams waiting for admission, in arrival order, with their message's size.
    private var queue: [(streamID: Int32, messageBytes: Int)] = []

    init(bytesMax: Int, streamWindowBytes: Int) {
        precondition(bytesMax >= streamWindowBytes && streamWindowBytes > 0, "a budget smaller than one stream window")
        self.bytesMax = bytesMax
        self.streamWindowBytes = streamWindowBytes
    }

    func heldBytes(_ streamID: Int32) -> Int { held[streamID] ?? 0 }
    func reservedBytes(_ streamID: Int32) -> Int { reserved[streamID] ?? 0 }
    func isWaiting(_ streamID: Int32) -> Bool { queue.contains { $0.streamID == streamID } }

    // MARK: held bytes

    /// `bytes` of `streamID`'s DATA now sit in the handler's buffers.
    mutating func hold(_ streamID: Int32, _ bytes: Int) {
        precondition(bytes >= 0, "holding a negative count")
        held[streamID, default: 0] += bytes
        bufferedBytes += bytes
        precondition(bufferedBytes <= bytesMax, "peer exceeded the connection window nghttp2 enforces")
    }

    /// `bytes` of what `streamID` holds left the buffers: the peer may send that much more.
    mutating func release(_ streamID: Int32, _ bytes: Int) {
        guard bytes > 0 else { return }
        let had = held[streamID] ?? 0
        precondition(bytes <= had, "releasing \(bytes) bytes of a stream that holds \(had)")
        held[streamID] = had == bytes ? nil : had - bytes
        bufferedBytes -= bytes
    }

    /// Releases everything `streamID` holds; returns how much that was.
    @discardableResult
    mutating func releaseAll(_ streamID: Int32) -> Int {
        let bytes = held[streamID] ?? 0
        release(streamID, bytes)
        return bytes
    }

    // MARK: admission

    /// The stream started a message of `messageBytes` (prefix included) whose rest must arrive.
    mutating func requestAdmission(_ streamID: Int32, messageBytes: Int) -> AdmissionOutcome {
        guard messageBytes > streamWindowBytes else { return .notNeeded }
        if reserved[streamID] != nil || isWaiting(streamID) { return .waiting }
        if queue.isEmpty && canAdmit(messageBytes) {
            return .admitted(admit(streamID, messageBytes))
        }
        queue.append((streamID, messageBytes))
        return .waiting
    }

    /// The stream's admitted message arrived, or the stream stopped waiting (rejected, closed):
    /// returns the queued streams admitted in its place, in order.
    mutating func endAdmission(_ streamID: Int32) -> [Admitted] {
        queue.removeAll { $0.streamID == streamID }
        guard let bytes = reserved.removeValue(forKey: streamID) else { return [] }
        admittedBytes -= bytes
        precondition(admittedBytes >= 0, "admitted bytes below zero")
        var next: [Admitted] = []
        while let first = queue.first, canAdmit(first.messageBytes) {
            queue.removeFirst()
            next.append(admit(first.streamID, first.messageBytes))
        }
        return next
    }

    /// A stream is gone: everything it held and reserved is freed. Returns what it held and
    /// the streams admitted in its place.
    mutating func streamClosed(_ streamID: Int32) -> (released: Int, admitted: [Admitted]) {
        let released = releaseAll(streamID)
        return (released, endAdmission(streamID))
    }

    /// The connection is gone.
    mutating func removeAll() {
        held.removeAll()
        reserved.removeAll()
        queue.removeAll()
        bufferedBytes = 0
        admittedBytes = 0
    }

    /// Which of `candidates` (streams still sending, holding bytes) to fail when the window is
    /// full and nothing can complete: the newest one not admitted (admitted ones are what can
    /// still finish), else the newest.
    func victim(among candidates: some Sequence<Int32>) -> Int32? {
        candidates.max { a, b in
            let ka = (reserved[a] == nil ? 1 : 0, a), kb = (reserved[b] == nil ? 1 : 0, b)
            return ka < kb
        }
    }

    private func canAdmit(_ bytes: Int) -> Bool {
        admittedBytes == 0 || admittedBytes + bytes <= admissionBytesMax
    }

    private mutating func admit(_ streamID: Int32, _ bytes: Int) -> Admitted {
        precondition(reserved[streamID] == nil, "stream \(streamID) admitted twice")
        reserved[streamID] = bytes
        admittedBytes += bytes
        precondition(admittedBytes <= admissionBytesMax || reserved.count == 1, "admitted past the admission budget")
        return Admitted(streamID: streamID, messageBytes: bytes, windowBytes: bytes + streamWindowBytes)
    }

    /// Every invariant, in full (O(streams)): for tests and the fuzz harness.
    func checkInvariants() {
        precondition(bufferedBytes == held.values.reduce(0, +) && bufferedBytes <= bytesMax, "buffered bytes out of step")
        precondition(admittedBytes == reserved.values.reduce(0, +), "admitted bytes out of step")
        precondition(!queue.contains { reserved[$0.streamID] != nil }, "a stream both admitted and waiting")
        precondition(admittedBytes <= admissionBytesMax || reserved.count <= 1, "admitted past the admission budget")
        precondition(held.values.allSatisfy { $0 > 0 }, "an empty holding kept")
    }
}
