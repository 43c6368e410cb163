/// Linearizable reads, batched (etcd's `linearizableReadLoop`): reads that arrive while a
/// ReadIndex request is out wait for the next one, so one round to the leader serves them all.
/// A pure state machine on the raft thread; time is passed in, actions come back.
///
/// The life of a read: `enqueue` → (next `request`: a context to hand to `RawNode.readIndex`) →
/// `received` the ReadState for that context (the read index) → `release` once the applied index
/// reaches it → the read runs against the local store. A request the leader never answers (it
/// was dropped: no leader, leadership changing) is sent again after `retryNanoseconds`; reads
/// that wait past their deadline, and reads of a request in flight when the leader changes, fail.
///
/// Invariants: a read is in exactly one of `waiting`, `inFlight`, `indexed`; `indexed` is sorted
/// by index; a context is never reused.
struct ReadIndexBatcher<Read> {
    struct Waiting {
        var read: Read
        var deadlineNanoseconds: Int64
    }

    /// Resend an unanswered ReadIndex request after this long (etcd's `readIndexRetryTime`).
    static var retryNanoseconds: Int64 { 500_000_000 }

    private var waiting: [Waiting] = []
    private var inFlight: (context: UInt64, reads: [Waiting], sentAtNanoseconds: Int64)?
    private var indexed: [(index: UInt64, reads: [Waiting])] = []
    private var nextContext: UInt64 = 1

    init() {}

    var isEmpty: Bool { waiting.isEmpty && inFlight == nil && indexed.isEmpty }
    var pendingCount: Int { waiting.count + (inFlight?.reads.count ?? 0) + indexed.reduce(0) { $0 + $1.reads.count } }

    mutating func enqueue(_ read: Read, deadlineNanoseconds: Int64) {
        waiting.append(Waiting(read: read, deadlineNanoseconds: deadlineNanoseconds))
    }

    /// The ReadIndex request to send now, if any: a new one for the waiting reads when none is out,
    /// or the one out again when it went unanswered for `retryNanoseconds`.
    mutating func request(now: Int64) -> UInt64? {
        if let out = inFlight {
            guard now - out.sentAtNanoseconds >= Self.retryNanoseconds else { return nil }
            inFlight!.sentAtNanoseconds = now
            return out.context
        }
        guard !waiting.isEmpty else { return nil }
        let context = nextContext
        nextContext += 1
        inFlight = (context, waiting, now)
        waiting = []
        return context
    }

    /// The leader's answer for `context` (`ReadState`): its reads may run once `index` is applied.
    /// An answer for any other context (an older, abandoned request) is ignored.
    mutating func received(context: UInt64, index: UInt64) {
        guard let out = inFlight, out.context == context else { return }
        inFlight = nil
        let at = indexed.firstIndex { $0.index > index } ?? indexed.endIndex
        indexed.insert((index, out.reads), at: at)
    }

    /// Reads whose read index is applied.
    mutating func release(applied: UInt64) -> [Read] {
        var out: [Read] = []
        while let first = indexed.first, first.index <= applied {
            out.append(contentsOf: first.reads.map(\.read))
            indexed.removeFirst()
        }
        return out
    }

    /// Reads past their deadline, removed (wherever they wait).
    mutating func expire(now: Int64) -> [Read] {
        var out: [Read] = []
        func take(_ list: inout [Waiting]) {
            guard list.contains(where: { $0.deadlineNanoseconds <= now }) else { return }
            out.append(contentsOf: list.filter { $0.deadlineNanoseconds <= now }.map(\.read))
            list.removeAll { $0.deadlineNanoseconds <= now }
        }
        take(&waiting)
        if inFlight != nil {
            take(&inFlight!.reads)
            if inFlight!.reads.isEmpty { inFlight = nil }
        }
        for i in indexed.indices { take(&indexed[i].reads) }
        indexed.removeAll { $0.reads.isEmpty }
        return out
    }

    /// The leader changed: the request in flight may never be answered (etcd fails its reads with
    /// "leader changed"). Reads already given an index stay: that index was confirmed by a leader.
    mutating func leaderChanged() -> [Read] {
        guard let out = inFlight else { return [] }
        inFlight = nil
        return out.reads.map(\.read)
    }

    /// Every read, removed (the member is stopping).
    mutating func drain() -> [Read] {
        var out = waiting.map(\.read)
        out += inFlight?.reads.map(\.read) ?? []
        for entry in indexed { out += entry.reads.map(\.read) }
        waiting = []
        inFlight = nil
        indexed = []
        return out
    }
}
