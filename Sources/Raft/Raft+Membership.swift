import EtcdProto

extension Raft {
    /// Applies a committed configuration change (the application calls this when it applies the
    /// entry, so every member switches at the same log position). Returns the new membership.
    mutating func applyConfChange(_ cc: ConfChangeV2) throws(ConfChangeError) -> ConfState {
        let changer = ConfChanger(tracker: tracker, lastIndex: log.lastIndex)
        let outcome: ConfChanger.Outcome
        switch cc.kind {
        case .leaveJoint: outcome = try changer.leaveJoint()
        case .enterJoint(let autoLeave): outcome = try changer.enterJoint(autoLeave: autoLeave, cc.changes)
        case .simple: outcome = try changer.simple(cc.changes)
        }
        return switchToConfig(outcome.config, outcome.progress)
    }

    /// Installs a configuration and reacts to it: a leader that is no longer a voter steps down;
    /// a leader that stays may commit more (the quorum changed) and probes newcomers at once.
    @discardableResult
    mutating func switchToConfig(_ config: MembershipConfig, _ progress: [MemberID: Progress]) -> ConfState {
        tracker.replace(config: config, progress: progress)
        emit(.switchedConfig(id, config.description))
        let cs = tracker.confState
        let mine = tracker.progress[id]
        isLearner = mine?.isLearner ?? false

        if role == .leader && (mine == nil || isLearner) {
            // Removed (or demoted) while leading. As in the Raft paper (§6), it goes on leading
            // the new configuration without counting itself, for a while: the remaining members
            // must learn that the change committed (a member that does not would keep the old
            // configuration and could wait forever for the removed leader's vote). It hands over
            // once a voter has its whole log, or after an election timeout.
            if stepDownOnRemoval && !handingOverAfterRemoval {
                handingOverAfterRemoval = true
                electionElapsed = 0
                emit(.removedWhileLeading(id, term: term))
                // Heartbeats carry the commit index bounded by what each member holds, so the
                // remaining members learn the change committed even if an append is refused.
                broadcastHeartbeat()
            }
        }
        guard role == .leader, !cs.voters.isEmpty else { return cs }

        if maybeCommit() {
            // The new quorum already holds more: tell everyone.
            broadcastAppend()
        } else {
            // Probe newcomers now rather than at the next heartbeat or proposal.
            for member in tracker.sortedIDs where member != id {
                _ = maybeSendAppend(to: member, sendIfEmpty: false)
            }
        }
        if !leadTransferee.isNone && !tracker.contains(leadTransferee) {
            abortLeaderTransfer()
        }
        return cs
    }

    /// A removed leader's exit: let the most up-to-date voter campaign at once (`MsgTimeoutNow`)
    /// so the group does not wait out an election timeout, and become a follower with no leader.
    mutating func handOverAndStepDown() {
        var best: (id: MemberID, match: LogIndex)?
        for voter in tracker.voterIDs where voter != id {
            guard let pr = tracker.progress[voter] else { continue }
            if best == nil || pr.match > best!.match { best = (voter, pr.match) }
        }
        if let best, best.match == log.lastIndex {
            emit(.sentTimeoutNow(id, to: best.id, term: term))
            sendTimeoutNow(to: best.id)
        }
        emit(.steppedDownRemoved(id, term: term))
        becomeFollower(term: term, leader: .none)
    }

    /// Proposes leaving a joint configuration that is to be left automatically, once it is
    /// applied (called from `advance()`). Dropped silently when not possible now (e.g. during a
    /// leadership transfer); it is retried at the next `advance()`.
    mutating func maybeAutoLeaveJoint() {
        guard role == .leader, tracker.config.autoLeave, log.applied >= pendingConfIndex else { return }
        let entry = Entry(term: 0, index: 0, type: .confChangeV2, data: [])
        do {
            try step(Message(type: .prop, from: id.rawValue, entries: [entry]))
            emit(.autoLeavingJoint(id))
        } catch {
            // Retried at the next advance.
        }
    }
}
