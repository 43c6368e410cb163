import EtcdProto

/// The leader's bookkeeping for the whole group: the membership, each member's `Progress`, and
/// the votes of the current election.
///
/// Invariant: `progress` has an entry for exactly the members of `config` (voters of either
/// half, learners and learners-next); `sortedIDs` lists those keys ascending.
struct ProgressTracker {
    private(set) var config: MembershipConfig
    private(set) var progress: [MemberID: Progress]
    /// The keys of `progress`, ascending: iteration order is deterministic.
    private(set) var sortedIDs: [MemberID]
    /// Votes received in the current election (true = granted).
    private(set) var votes: [MemberID: Bool] = [:]
    let maxInflight: Int

    init(maxInflight: Int) {
        self.maxInflight = maxInflight
        config = MembershipConfig()
        progress = [:]
        sortedIDs = []
    }

    /// Installs a configuration and its progress map (from `ConfChanger`).
    mutating func replace(config: MembershipConfig, progress: [MemberID: Progress]) {
        self.config = config
        self.progress = progress
        sortedIDs = progress.keys.sorted()
    }

    var confState: ConfState { config.confState }

    /// Exactly one voter and not joint.
    var isSingleton: Bool {
        config.voters.incoming.count == 1 && !config.voters.isJoint
    }

    func contains(_ id: MemberID) -> Bool { progress[id] != nil }

    /// Runs `body` on each member's progress in ascending ID order.
    mutating func forEach(_ body: (MemberID, inout Progress) -> Void) {
        for id in sortedIDs { body(id, &progress[id]!) }
    }

    /// Mutates one member's progress in place; nil if it is not tracked.
    @discardableResult
    mutating func update<R>(_ id: MemberID, _ body: (inout Progress) -> R) -> R? {
        guard progress[id] != nil else { return nil }
        return body(&progress[id]!)
    }

    /// The largest index a quorum has persisted.
    func committed() -> LogIndex {
        config.voters.committedIndex { progress[$0]?.match }
    }

    /// Whether a quorum of voters was heard from since the last check (CheckQuorum).
    func quorumActive() -> Bool {
        config.voters.voteResult { id in
            guard let pr = progress[id], !pr.isLearner else { return nil }
            return pr.recentActive
        } == .won
    }

    var voterIDs: [MemberID] { config.voters.ids }
    var learnerIDs: [MemberID] { config.learners.sorted() }

    // MARK: votes

    mutating func resetVotes() {
        votes.removeAll(keepingCapacity: true)
    }

    /// Records `id`'s vote; only its first vote in an election counts.
    mutating func recordVote(_ id: MemberID, granted: Bool) {
        if votes[id] == nil { votes[id] = granted }
    }

    /// Counts the votes: how many granted and rejected among voters, and the outcome.
    func tallyVotes() -> (granted: Int, rejected: Int, result: VoteResult) {
        var granted = 0
        var rejected = 0
        for id in sortedIDs {
            guard let pr = progress[id], !pr.isLearner, let v = votes[id] else { continue }
            if v { granted += 1 } else { rejected += 1 }
        }
        return (granted, rejected, config.voters.voteResult { votes[$0] })
    }
}
