import EtcdProto

/// Who is in the group and in what role: the voters (possibly joint), the learners, and the
/// learners-to-be of a joint configuration.
///
/// Invariants (checked by `ConfChanger`): a learner is in neither voter half; `learnersNext` is
/// empty unless joint, and each of its members is an outgoing voter that becomes a learner when
/// the joint configuration is left; `autoLeave` only while joint.
struct MembershipConfig: Equatable, Sendable {
    var voters = JointConfig()
    /// Leave the joint configuration automatically once it is applied.
    var autoLeave = false
    /// Members that receive the log but do not vote, sorted.
    var learners: Set<MemberID> = []
    /// Outgoing voters that become learners when the joint configuration is left. A member cannot
    /// be a voter and a learner at once, so a voter demoted in a joint change waits here.
    var learnersNext: Set<MemberID> = []

    /// The wire form, with sorted member lists.
    var confState: ConfState {
        var cs = ConfState()
        cs.voters = voters.incoming.ids.map(\.rawValue)
        cs.votersOutgoing = voters.outgoing.ids.map(\.rawValue)
        cs.learners = learners.sorted().map(\.rawValue)
        cs.learnersNext = learnersNext.sorted().map(\.rawValue)
        cs.autoLeave = autoLeave
        return cs
    }

    var description: String {
        var s = "voters=\(voters.description)"
        if !learners.isEmpty { s += " learners=" + MajorityConfig(learners).description }
        if !learnersNext.isEmpty { s += " learners_next=" + MajorityConfig(learnersNext).description }
        if autoLeave { s += " autoleave" }
        return s
    }
}

extension ConfState {
    /// Whether two ConfStates describe the same membership, ignoring order.
    func isEquivalent(to other: ConfState) -> Bool {
        voters.sorted() == other.voters.sorted()
            && learners.sorted() == other.learners.sorted()
            && votersOutgoing.sorted() == other.votersOutgoing.sorted()
            && learnersNext.sorted() == other.learnersNext.sorted()
            && autoLeave == other.autoLeave
    }
}
