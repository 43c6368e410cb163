import EtcdProto

/// Why a configuration change cannot be applied. A committed change that fails is skipped by
/// every member alike (the check depends only on the configuration, which all members share at
/// that index).
public enum ConfChangeError: Error, Equatable, Sendable {
    case alreadyJoint
    case notJoint
    case zeroVoterJoint
    case removedAllVoters
    case simpleChangeInJoint
    /// The simple protocol can change at most one voter; use joint consensus.
    case moreThanOneVoterChanged
    case unknownChangeType(Int32)
    /// An internal invariant failed (a bug, or a corrupted ConfState).
    case invariantViolated(String)
}

/// Computes the membership that results from a configuration change, without touching the live
/// tracker: each operation returns the new config and progress map for the caller to install.
///
/// Simple changes move at most one voter. Joint changes go through an intermediate
/// configuration in which decisions need majorities of both the old and the new voter sets;
/// `leaveJoint` then drops the old set.
struct ConfChanger {
    let tracker: ProgressTracker
    /// New members start probing at the leader's last index.
    let lastIndex: LogIndex

    typealias Outcome = (config: MembershipConfig, progress: [MemberID: Progress])

    /// Enters a joint configuration: the current voters become the outgoing half, `changes` are
    /// applied to the incoming half.
    func enterJoint(autoLeave: Bool, _ changes: [ConfChangeSingle]) throws(ConfChangeError) -> Outcome {
        var (cfg, prs) = try checkedCopy()
        if cfg.voters.isJoint { throw .alreadyJoint }
        if cfg.voters.incoming.isEmpty { throw .zeroVoterJoint }
        cfg.voters.outgoing = cfg.voters.incoming
        try apply(&cfg, &prs, changes)
        cfg.autoLeave = autoLeave
        try Self.checkInvariants(cfg, prs)
        return (cfg, prs)
    }

    /// Leaves a joint configuration: the outgoing half is dropped, learners-next become learners,
    /// and members in neither role any more are forgotten.
    func leaveJoint() throws(ConfChangeError) -> Outcome {
        var (cfg, prs) = try checkedCopy()
        if !cfg.voters.isJoint { throw .notJoint }
        for id in cfg.learnersNext {
            cfg.learners.insert(id)
            prs[id]!.isLearner = true
        }
        cfg.learnersNext = []
        for id in cfg.voters.outgoing.ids where !cfg.voters.incoming.contains(id) && !cfg.learners.contains(id) {
            prs[id] = nil
        }
        cfg.voters.outgoing = MajorityConfig()
        cfg.autoLeave = false
        try Self.checkInvariants(cfg, prs)
        return (cfg, prs)
    }

    /// Applies changes that move at most one voter, without a joint configuration: any two
    /// majorities of voter sets differing by one member intersect, which keeps it safe.
    func simple(_ changes: [ConfChangeSingle]) throws(ConfChangeError) -> Outcome {
        var (cfg, prs) = try checkedCopy()
        if cfg.voters.isJoint { throw .simpleChangeInJoint }
        try apply(&cfg, &prs, changes)
        let before = Set(tracker.config.voters.incoming.ids)
        let after = Set(cfg.voters.incoming.ids)
        if before.symmetricDifference(after).count > 1 { throw .moreThanOneVoterChanged }
        try Self.checkInvariants(cfg, prs)
        return (cfg, prs)
    }

    /// Rebuilds the configuration described by `confState` from an empty tracker, through a
    /// sequence of valid changes (so restoring is checked like any other change).
    static func restore(_ confState: ConfState, tracker: ProgressTracker, lastIndex: LogIndex) throws(ConfChangeError) -> Outcome {
        // The outgoing voters first, one simple change at a time; then enter a joint config that
        // turns them into the incoming set. Without outgoing voters, simple changes do it all.
        var outgoing: [ConfChangeSingle] = []
        for id in confState.votersOutgoing { outgoing.append(ConfChangeSingle(type: .addNode, nodeID: id)) }
        var incoming: [ConfChangeSingle] = []
        for id in confState.votersOutgoing { incoming.append(ConfChangeSingle(type: .removeNode, nodeID: id)) }
        for id in confState.voters { incoming.append(ConfChangeSingle(type: .addNode, nodeID: id)) }
        for id in confState.learners { incoming.append(ConfChangeSingle(type: .addLearnerNode, nodeID: id)) }
        // A learner-next is an outgoing voter; adding it as a learner to the incoming half puts
        // it into learnersNext.
        for id in confState.learnersNext { incoming.append(ConfChangeSingle(type: .addLearnerNode, nodeID: id)) }

        var current = tracker
        func step(_ outcome: Outcome) { current.replace(config: outcome.config, progress: outcome.progress) }
        if outgoing.isEmpty {
            for cc in incoming {
                step(try ConfChanger(tracker: current, lastIndex: lastIndex).simple([cc]))
            }
        } else {
            for cc in outgoing {
                step(try ConfChanger(tracker: current, lastIndex: lastIndex).simple([cc]))
            }
            step(try ConfChanger(tracker: current, lastIndex: lastIndex).enterJoint(autoLeave: confState.autoLeave, incoming))
        }
        return (current.config, current.progress)
    }

    // MARK: operations on a copy

    private func checkedCopy() throws(ConfChangeError) -> Outcome {
        let cfg = tracker.config
        let prs = tracker.progress
        try Self.checkInvariants(cfg, prs)
        return (cfg, prs)
    }

    private func apply(_ cfg: inout MembershipConfig, _ prs: inout [MemberID: Progress], _ changes: [ConfChangeSingle]) throws(ConfChangeError) {
        for cc in changes {
            let id = MemberID(cc.nodeID)
            if id.isNone { continue }  // etcd treats a zero ID as a no-op
            switch cc.type {
            case .addNode?: makeVoter(&cfg, &prs, id)
            case .addLearnerNode?: makeLearner(&cfg, &prs, id)
            case .removeNode?: remove(&cfg, &prs, id)
            case .updateNode?: break
            case nil: throw .unknownChangeType(cc.typeRaw)
            }
        }
        if cfg.voters.incoming.isEmpty { throw .removedAllVoters }
    }

    private func makeVoter(_ cfg: inout MembershipConfig, _ prs: inout [MemberID: Progress], _ id: MemberID) {
        guard prs[id] != nil else {
            initProgress(&cfg, &prs, id, isLearner: false)
            return
        }
        prs[id]!.isLearner = false
        cfg.learners.remove(id)
        cfg.learnersNext.remove(id)
        cfg.voters.incoming.insert(id)
    }

    private func makeLearner(_ cfg: inout MembershipConfig, _ prs: inout [MemberID: Progress], _ id: MemberID) {
        guard let existing = prs[id] else {
            initProgress(&cfg, &prs, id, isLearner: true)
            return
        }
        if existing.isLearner { return }
        // Remove as a voter first, but keep the progress (the member stays in the group).
        remove(&cfg, &prs, id)
        prs[id] = existing
        if cfg.voters.outgoing.contains(id) {
            // Still an outgoing voter: it becomes a learner when the joint config is left.
            cfg.learnersNext.insert(id)
        } else {
            prs[id]!.isLearner = true
            cfg.learners.insert(id)
        }
    }

    private func remove(_ cfg: inout MembershipConfig, _ prs: inout [MemberID: Progress], _ id: MemberID) {
        guard prs[id] != nil else { return }
        cfg.voters.incoming.remove(id)
        cfg.learners.remove(id)
        cfg.learnersNext.remove(id)
        // An outgoing voter keeps its progress until the joint configuration is left.
        if !cfg.voters.outgoing.contains(id) { prs[id] = nil }
    }

    private func initProgress(_ cfg: inout MembershipConfig, _ prs: inout [MemberID: Progress], _ id: MemberID, isLearner: Bool) {
        if isLearner { cfg.learners.insert(id) } else { cfg.voters.incoming.insert(id) }
        // Probe from the last index: the newcomer most likely has nothing, and the first rejection
        // tells the leader where to go. Counted as active so that CheckQuorum does not step the
        // leader down before the newcomer had a chance to answer.
        prs[id] = Progress(next: Swift.max(lastIndex, LogIndex(1)), maxInflight: tracker.maxInflight, isLearner: isLearner, recentActive: true)
    }

    static func checkInvariants(_ cfg: MembershipConfig, _ prs: [MemberID: Progress]) throws(ConfChangeError) {
        for id in cfg.voters.ids where prs[id] == nil { throw .invariantViolated("no progress for voter \(id)") }
        for id in cfg.learners where prs[id] == nil { throw .invariantViolated("no progress for learner \(id)") }
        for id in cfg.learnersNext {
            if prs[id] == nil { throw .invariantViolated("no progress for learner-next \(id)") }
            if !cfg.voters.outgoing.contains(id) { throw .invariantViolated("\(id) is in learnersNext but not an outgoing voter") }
            if prs[id]!.isLearner { throw .invariantViolated("\(id) is in learnersNext but already a learner") }
        }
        for id in cfg.learners {
            if cfg.voters.contains(id) { throw .invariantViolated("\(id) is a learner and a voter") }
            if !prs[id]!.isLearner { throw .invariantViolated("\(id) is a learner but not marked as one") }
        }
        if !cfg.voters.isJoint {
            if !cfg.learnersNext.isEmpty { throw .invariantViolated("learnersNext outside a joint config") }
            if cfg.autoLeave { throw .invariantViolated("autoLeave outside a joint config") }
        }
        if prs.count != Set(cfg.voters.ids).union(cfg.learners).union(cfg.learnersNext).count {
            throw .invariantViolated("progress for a member outside the config")
        }
    }
}
