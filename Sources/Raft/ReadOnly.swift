import EtcdProto

/// The answer to a `readIndex` request: once the application has applied up to `index`, a read
/// of its state machine reflects every write acknowledged before the request was made.
public struct ReadState: Equatable, Sendable {
    public var index: LogIndex
    /// The context passed to `readIndex`, unchanged.
    public var requestContext: [UInt8]

    public init(index: LogIndex, requestContext: [UInt8]) {
        self.index = index
        self.requestContext = requestContext
    }
}

/// The leader's queue of read-index requests waiting for a quorum to confirm its leadership
/// (ReadIndex, Raft thesis §6.4, with no clock assumption).
///
/// A request records the commit index when it arrived and gets a fresh round number; the leader
/// sends heartbeats carrying that number as context. When a quorum echoes it, no other leader
/// can have committed anything newer at the time the request arrived, so the recorded index is
/// safe to read at — for this request and every earlier one in the queue.
///
/// Round numbers come from a counter that never repeats for this member, so an echo of an old
/// heartbeat can never confirm a newer request (etcd keys rounds by the client's context, which
/// a client could reuse).
struct ReadOnly {
    struct Pending {
        /// The request: `from` is the member that asked (this one or a follower), and
        /// `entries[0].data` the client's context.
        var request: Message
        var index: LogIndex
        var round: UInt64
        var acks: Set<MemberID>
    }

    /// Waiting requests, oldest first; rounds increase along the queue.
    private(set) var queue: [Pending] = []
    /// The last round number handed out (never reset, across terms too).
    private(set) var lastRound: UInt64 = 0

    /// The heartbeat context for a round.
    static func context(forRound round: UInt64) -> [UInt8] {
        withUnsafeBytes(of: round.bigEndian) { Array($0) }
    }

    static func round(fromContext context: [UInt8]) -> UInt64? {
        guard context.count == 8 else { return nil }
        var v: UInt64 = 0
        for b in context { v = v << 8 | UInt64(b) }
        return v
    }

    /// Queues a request at commit index `index`; returns its round.
    mutating func add(_ request: Message, index: LogIndex, selfID: MemberID) -> UInt64 {
        lastRound += 1
        queue.append(Pending(request: request, index: index, round: lastRound, acks: [selfID]))
        return lastRound
    }

    /// Records that `id` echoed `round`; returns the members that confirmed it so far, or nil if
    /// the round is not waiting.
    mutating func receiveAck(from id: MemberID, round: UInt64) -> Set<MemberID>? {
        guard let i = queue.firstIndex(where: { $0.round == round }) else { return nil }
        queue[i].acks.insert(id)
        return queue[i].acks
    }

    /// Removes and returns every request up to and including `round` (all confirmed by it).
    mutating func release(upTo round: UInt64) -> ArraySlice<Pending> {
        guard let i = queue.firstIndex(where: { $0.round == round }) else { return [] }
        let done = queue[...i]
        queue.removeSubrange(...i)
        return done
    }

    /// The round heartbeats should carry: the newest waiting one (confirming it confirms all).
    var lastPendingRound: UInt64? { queue.last?.round }

    /// Drops every waiting request (a new term: they can no longer be confirmed).
    mutating func reset() {
        queue.removeAll()
    }
}
