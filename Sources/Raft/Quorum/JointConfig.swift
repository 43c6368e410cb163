/// The voters of a configuration that may be joint (§6 of the Raft thesis): decisions need a
/// majority of `incoming` and, while a change is in progress, also of `outgoing`. When not joint,
/// `outgoing` is empty and (being empty) agrees to everything.
struct JointConfig: Equatable, Sendable {
    var incoming = MajorityConfig()
    var outgoing = MajorityConfig()

    var isJoint: Bool { !outgoing.isEmpty }

    /// Every voter of either half, sorted, once each.
    var ids: [MemberID] {
        if outgoing.isEmpty { return incoming.ids }
        return Array(Set(incoming.ids).union(outgoing.ids)).sorted()
    }

    func contains(_ id: MemberID) -> Bool {
        incoming.contains(id) || outgoing.contains(id)
    }

    /// The largest index both halves have committed.
    func committedIndex(_ ackedIndex: (MemberID) -> LogIndex?) -> LogIndex {
        Swift.min(incoming.committedIndex(ackedIndex), outgoing.committedIndex(ackedIndex))
    }

    /// Won only if both halves won; lost if either lost.
    func voteResult(_ votes: (MemberID) -> Bool?) -> VoteResult {
        let a = incoming.voteResult(votes)
        let b = outgoing.voteResult(votes)
        if a == b { return a }
        if a == .lost || b == .lost { return .lost }
        return .pending
    }

    var description: String {
        outgoing.isEmpty ? incoming.description : incoming.description + "&&" + outgoing.description
    }
}
