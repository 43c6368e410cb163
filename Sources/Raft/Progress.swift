import EtcdProto

/// How the leader replicates to one follower.
public enum ProgressState: Sendable, Equatable, CustomStringConvertible {
    /// One append at a time, waiting for each answer: the leader does not know where the
    /// follower's log matches its own.
    case probe
    /// Appends streamed optimistically, bounded by the inflight window.
    case replicate
    /// A snapshot was sent; appends wait until the follower reports it applied.
    case snapshot

    public var description: String {
        switch self {
        case .probe: "StateProbe"
        case .replicate: "StateReplicate"
        case .snapshot: "StateSnapshot"
        }
    }
}

/// The leader's view of one member's log, and the state machine of how it replicates to it. All
/// transitions between `ProgressState`s live here.
///
/// Invariants: `match < next`; in `.snapshot`, `pendingSnapshot > 0`; in `.replicate`, every
/// inflight index lies in `(match, next)`.
struct Progress: Equatable {
    /// The highest index known to be persisted on the member and equal to the leader's entry.
    var match: LogIndex
    /// The index of the next entry to send.
    var next: LogIndex
    private(set) var state: ProgressState = .probe
    /// In `.snapshot`: the index of the snapshot sent.
    private(set) var pendingSnapshot: LogIndex = .zero
    /// Whether the member was heard from since the last CheckQuorum round.
    var recentActive: Bool
    /// In `.probe`: an append was sent and no answer came yet; the leader waits (a heartbeat
    /// answer clears it, so a lost probe is retried every heartbeat).
    private(set) var probeSent = false
    var inflights: Inflights
    var isLearner: Bool

    init(match: LogIndex = .zero, next: LogIndex, maxInflight: Int, isLearner: Bool, recentActive: Bool = false) {
        self.match = match
        self.next = next
        self.inflights = Inflights(capacity: maxInflight)
        self.isLearner = isLearner
        self.recentActive = recentActive
    }

    private mutating func resetState(_ newState: ProgressState) {
        probeSent = false
        pendingSnapshot = .zero
        state = newState
        inflights.reset()
    }

    /// Back to probing from `match + 1` (or just past a snapshot that was sent, which the member
    /// most likely applied).
    mutating func becomeProbe() {
        if state == .snapshot {
            let sent = pendingSnapshot
            resetState(.probe)
            next = Swift.max(match + 1, sent + 1)
        } else {
            resetState(.probe)
            next = match + 1
        }
    }

    mutating func becomeReplicate() {
        resetState(.replicate)
        next = match + 1
    }

    mutating func becomeSnapshot(index: LogIndex) {
        resetState(.snapshot)
        pendingSnapshot = index
    }

    /// The snapshot send failed (reported by the application): probe again from `match + 1`.
    mutating func snapshotFailed() {
        precondition(state == .snapshot, "snapshot failure reported in \(state)")
        pendingSnapshot = .zero
        becomeProbe()
        probeSent = true
    }

    /// The snapshot arrived: probe from just past it, after the member's next answer.
    mutating func snapshotSucceeded() {
        precondition(state == .snapshot, "snapshot success reported in \(state)")
        becomeProbe()
        probeSent = true
    }

    /// An acknowledgement up to `index` arrived. Returns false if it told nothing new (an old or
    /// duplicated answer).
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = Swift.max(next, index + 1)
        return updated
    }

    /// Records that entries up to `index` were sent (replicate state streams optimistically).
    mutating func sentEntries(upTo index: LogIndex) {
        switch state {
        case .replicate:
            next = index + 1
            inflights.add(index)
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("sending entries in snapshot state")
        }
    }

    /// The append probing at `rejected` was refused; `hint` is where the member's log may match
    /// (from fast backtracking). Returns false when the rejection is stale (out of order).
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // A rejection at or below match is from an old message.
            if rejected <= match { return false }
            // Entries past match were lost or refused: resend from match + 1.
            next = match + 1
            return true
        }
        // In probe state only the answer to the last probe (at next - 1) counts.
        if next - 1 != rejected { return false }
        next = Swift.max(Swift.min(rejected, hint + 1), match + 1)
        if next < LogIndex(1) { next = LogIndex(1) }
        probeSent = false
        return true
    }

    /// A heartbeat answer arrived: the member is alive, so unblock a stalled probe, and let one
    /// more append through a full window.
    mutating func heartbeatAnswered() {
        probeSent = false
        if state == .replicate && inflights.isFull { inflights.freeFirstOne() }
    }

    /// Whether the leader must not send appends now (it sends heartbeats regardless).
    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    /// Describes the progress as the scenario traces print it.
    var summary: String {
        var s = "\(state) match=\(match) next=\(next)"
        if isLearner { s += " learner" }
        if isPaused { s += " paused" }
        if pendingSnapshot > .zero { s += " pendingSnap=\(pendingSnapshot)" }
        if !recentActive { s += " inactive" }
        if inflights.count > 0 { s += " inflight=\(inflights.count)" + (inflights.isFull ? "[full]" : "") }
        return s
    }
}
