/// The checks etcd makes before it proposes a membership change (`mayAddMember`,
/// `mayRemoveMember`, `mayPromoteMember`, `isLearnerReady`; `RaftCluster.IsReadyTo*`). Pure:
/// the membership, the peers' connection times and raft's progress come in as values.
///
/// A member counts as started once it has published its name (etcd's `Member.IsStarted`).
/// These run on the proposing member, before the log; the change is validated again when it is
/// applied (`MembershipApplier.validate`), identically on every member.
enum ReconfigurationCheck {
    /// etcd's `HealthInterval`: a member must have been connected to its peers this long before
    /// it proposes a change that could break the active quorum.
    static let healthIntervalNanoseconds: Int64 = 5_000_000_000
    /// etcd's `readyPercent`: a learner is promoted only once its log has reached this share of
    /// the leader's.
    static let learnerReadyShare = 0.9

    /// Since when (monotonic nanoseconds) a peer has been connected, nil when it is not.
    typealias ActiveSince = (UInt64) -> Int64?

    static func voters(_ m: Membership) -> [MemberRecord] { m.sortedMembers.filter { !$0.isLearner } }

    /// `IsReadyToAddVotingMember`: with the new member counted (not started), a quorum of the
    /// voters has started — or a one-member cluster gets its second member (restoring a cluster
    /// from one member's data).
    static func readyToAddVoter(_ m: Membership) -> Bool {
        let voters = voters(m)
        let members = voters.count + 1
        let started = voters.filter { !$0.name.isEmpty }.count
        if started == 1 && members == 2 { return true }
        return started >= members / 2 + 1
    }

    /// `IsReadyToRemoveVotingMember`: without `id`, a quorum of the voters left has started.
    static func readyToRemoveVoter(_ id: UInt64, _ m: Membership) -> Bool {
        let left = voters(m).filter { $0.id != id }
        let started = left.filter { !$0.name.isEmpty }.count
        return started >= left.count / 2 + 1
    }

    /// `IsReadyToPromoteMember`: with the learner counted as a started voter, a quorum has started.
    static func readyToPromote(_ m: Membership) -> Bool {
        let voters = voters(m)
        let members = voters.count + 1
        let started = voters.filter { !$0.name.isEmpty }.count + 1
        return started >= members / 2 + 1
    }

    /// `numConnectedSince`: this member and the voters connected since `since`.
    static func connectedCount(_ voters: [MemberRecord], selfID: UInt64, since: Int64, activeSince: ActiveSince) -> Int {
        voters.filter { member in
            if member.id == selfID { return true }
            guard let t = activeSince(member.id) else { return false }
            return t < since
        }.count
    }

    /// `mayAddMember` (with `--strict-reconfig-check`).
    static func mayAdd(isLearner: Bool, _ m: Membership, selfID: UInt64, now: Int64, activeSince: ActiveSince) -> EtcdError? {
        if !isLearner && !readyToAddVoter(m) { return .memberNotEnoughStarted }
        let voters = voters(m)
        if connectedCount(voters, selfID: selfID, since: now - healthIntervalNanoseconds, activeSince: activeSince) != voters.count {
            return .unhealthy
        }
        return nil
    }

    /// `mayRemoveMember` (with `--strict-reconfig-check`): a learner may always go, and so may a
    /// voter this member is not connected to (it is not part of the active quorum).
    static func mayRemove(_ id: UInt64, _ m: Membership, selfID: UInt64, now: Int64, activeSince: ActiveSince) -> EtcdError? {
        if m.members[id]?.isLearner == true { return nil }
        if !readyToRemoveVoter(id, m) { return .memberNotEnoughStarted }
        if id != selfID && activeSince(id) == nil { return nil }
        let voters = voters(m)
        let active = connectedCount(voters, selfID: selfID, since: now - healthIntervalNanoseconds, activeSince: activeSince)
        if active - 1 < 1 + (voters.count - 1) / 2 { return .unhealthy }
        return nil
    }

    /// `isLearnerReady`: the learner's match index has reached `learnerReadyShare` of the
    /// leader's. A member raft does not track is left to the apply-time check.
    static func learnerReady(learnerMatch: UInt64?, leaderMatch: UInt64) -> Bool {
        guard let learnerMatch else { return true }
        return Double(learnerMatch) >= Double(leaderMatch) * learnerReadyShare
    }
}
