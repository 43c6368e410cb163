import EtcdProto

extension Raft {
    mutating func stepLeader(_ m: Message, type: MessageType) throws(RaftError) {
        // Message types that need no progress for the sender.
        switch type {
        case .beat:
            broadcastHeartbeat()
            return
        case .checkQuorum:
            // We are always active to ourselves (unless removed: then there is no progress).
            tracker.update(id) { $0.recentActive = true }
            if !tracker.quorumActive() {
                emit(.steppedDownWithoutQuorum(id, term: term))
                becomeFollower(term: term, leader: .none)
            }
            // Start the next round: everyone must be heard from again.
            let me = id
            tracker.forEach { memberID, pr in if memberID != me { pr.recentActive = false } }
            return
        case .prop:
            try handleProposal(m)
            return
        case .readIndex:
            handleReadIndexRequest(m)
            return
        default:
            break
        }

        let from = MemberID(m.from)
        guard tracker.contains(from) else { return }
        switch type {
        case .appResp:
            handleAppendResponse(m, from: from)
        case .heartbeatResp:
            handleHeartbeatResponse(m, from: from)
        case .snapStatus:
            tracker.update(from) { pr in
                guard pr.state == .snapshot else { return }
                // Either way, wait for the follower's next answer (or a heartbeat) before sending.
                if m.reject { pr.snapshotFailed() } else { pr.snapshotSucceeded() }
            }
        case .unreachable:
            // While streaming, an unreachable follower most likely lost a message: probe again.
            tracker.update(from) { pr in if pr.state == .replicate { pr.becomeProbe() } }
        case .transferLeader:
            handleTransferLeader(to: from)
        default:
            break
        }
    }

    // MARK: proposals

    /// Appends a proposal's entries and replicates them. Configuration changes are checked first:
    /// at most one may be unapplied at a time, a joint configuration must be left before another
    /// change, and only a joint configuration can be left. A refused change in a batch becomes an
    /// empty entry (keeping the others' positions); a refused change proposed alone here is
    /// dropped with `.confChangeRefused`.
    mutating func handleProposal(_ m: Message) throws(RaftError) {
        if m.entries.isEmpty { throw .proposalDropped(.emptyProposal) }
        guard tracker.contains(id) else {
            // Removed from the configuration while leading.
            emit(.droppedProposal(id, .notMember))
            throw .proposalDropped(.notMember)
        }
        if !leadTransferee.isNone {
            emit(.droppedProposal(id, .leadershipTransferInProgress))
            throw .proposalDropped(.leadershipTransferInProgress)
        }
        var entries = m.entries
        for i in entries.indices where entries[i].typeRaw != EntryType.normal.rawValue {
            guard let cc = Self.decodeConfChange(entries[i]) else { continue }
            var refusal: String?
            if pendingConfIndex > log.applied {
                refusal = "possible unapplied conf change at index \(pendingConfIndex) (applied to \(log.applied))"
            } else if tracker.config.voters.isJoint && !cc.leavesJoint {
                refusal = "must transition out of joint config first"
            } else if !tracker.config.voters.isJoint && cc.leavesJoint {
                refusal = "not in joint state; refusing empty conf change"
            }
            if let refusal {
                emit(.refusedConfChange(id, refusal))
                if entries.count == 1 && MemberID(m.from) == id {
                    throw .proposalDropped(.confChangeRefused)
                }
                entries[i] = Entry()
            } else {
                pendingConfIndex = log.lastIndex + UInt64(i + 1)
            }
        }
        guard appendEntries(entries) else {
            emit(.droppedProposal(id, .uncommittedSizeLimit))
            throw .proposalDropped(.uncommittedSizeLimit)
        }
        broadcastAppend()
    }

    /// The change an entry carries, as a `ConfChangeV2`; nil for a normal or undecodable entry.
    static func decodeConfChange(_ entry: Entry) -> ConfChangeV2? {
        switch entry.type {
        case .confChange?: return (try? ConfChange(serializedBytes: entry.data))?.asV2
        case .confChangeV2?: return try? ConfChangeV2(serializedBytes: entry.data)
        default: return nil
        }
    }

    // MARK: replication

    /// Sends `to` the entries it needs (or a snapshot), unless its progress is paused.
    mutating func sendAppend(to: MemberID) {
        _ = maybeSendAppend(to: to, sendIfEmpty: true)
    }

    /// Sends one append (or snapshot) message to `to`. Returns whether one was sent. With
    /// `sendIfEmpty` false, nothing is sent when there are no entries (an empty append only
    /// carries the commit index).
    mutating func maybeSendAppend(to: MemberID, sendIfEmpty: Bool) -> Bool {
        guard let pr = tracker.progress[to], !pr.isPaused else { return false }
        let previous = pr.next - 1
        if case .success(let previousTerm) = log.term(at: previous),
           case .success(let entries) = log.entries(from: pr.next, maxSizeBytes: maxMessageBytes)
        {
            if entries.isEmpty && !sendIfEmpty { return false }
            if let last = entries.last {
                tracker.update(to) { $0.sentEntries(upTo: LogIndex(last.index)) }
            }
            send(Message(type: .app, to: to.rawValue, logTerm: previousTerm.rawValue, index: previous.rawValue,
                         entries: entries, commit: log.committed.rawValue))
            return true
        }
        // The entries it needs were compacted away: send the snapshot instead, if the follower
        // is alive (a snapshot is expensive to send into the void).
        guard pr.recentActive else { return false }
        let snapshot: Snapshot
        do {
            snapshot = try log.snapshot()
        } catch .snapshotTemporarilyUnavailable {
            return false
        } catch {
            preconditionFailure("cannot read the snapshot: \(error)")
        }
        precondition(!snapshot.isEmpty, "need a non-empty snapshot")
        tracker.update(to) { $0.becomeSnapshot(index: LogIndex(snapshot.metadata.index)) }
        send(Message(type: .snap, to: to.rawValue, snapshot: snapshot))
        return true
    }

    /// Sends appends to every other member that is not up to date (or paused).
    mutating func broadcastAppend() {
        for member in tracker.sortedIDs where member != id {
            sendAppend(to: member)
        }
    }

    /// A heartbeat carries `min(match, commit)`: a follower must not commit past what it is known
    /// to hold, which could be a stale suffix from another term.
    mutating func sendHeartbeat(to: MemberID, context: [UInt8]) {
        guard let pr = tracker.progress[to] else { return }
        let commit = Swift.min(pr.match, log.committed)
        send(Message(type: .heartbeat, to: to.rawValue, commit: commit.rawValue, context: context))
    }

    /// Heartbeats to everyone, carrying the newest waiting read round (so a lost heartbeat of a
    /// read round is retried by the next one).
    mutating func broadcastHeartbeat() {
        let context = readOnly.lastPendingRound.map(ReadOnly.context(forRound:)) ?? []
        broadcastHeartbeat(context: context)
    }

    mutating func broadcastHeartbeat(context: [UInt8]) {
        for member in tracker.sortedIDs where member != id {
            sendHeartbeat(to: member, context: context)
        }
    }

    /// Moves the commit index to what a quorum holds, if that is an entry of this term (§5.4.2).
    mutating func maybeCommit() -> Bool {
        log.maybeCommit(index: tracker.committed(), term: term)
    }

    mutating func handleAppendResponse(_ m: Message, from: MemberID) {
        tracker.update(from) { $0.recentActive = true }
        let index = LogIndex(m.index)
        if m.reject {
            // Where to probe next: the follower's hint, refined by our own log when the follower
            // told us its term there (fast backtracking, §5.3).
            var nextProbe = LogIndex(m.rejectHint)
            if m.logTerm > 0 {
                nextProbe = log.findConflictByTerm(index: nextProbe, term: Term(m.logTerm)).index
            }
            let decreased = tracker.update(from) { pr -> Bool in
                guard pr.maybeDecrease(rejected: index, hint: nextProbe) else { return false }
                if pr.state == .replicate { pr.becomeProbe() }
                return true
            } ?? false
            if decreased { sendAppend(to: from) }
            return
        }

        let firstIndex = log.firstIndex
        let (wasPaused, updated) = tracker.update(from) { pr -> (Bool, Bool) in
            let wasPaused = pr.isPaused
            guard pr.maybeUpdate(index) else { return (wasPaused, false) }
            switch pr.state {
            case .probe:
                pr.becomeReplicate()
            case .snapshot where pr.match + 1 >= firstIndex:
                // Caught up to where our log is available again (through the snapshot or
                // otherwise): go back to streaming, via probe to settle `next`.
                pr.becomeProbe()
                pr.becomeReplicate()
            case .replicate:
                pr.inflights.freeLE(index)
            case .snapshot:
                break
            }
            return (wasPaused, true)
        } ?? (false, false)
        guard updated else { return }

        if maybeCommit() {
            // Something of this term committed: pending reads can be served now.
            releasePendingReadIndexMessages()
            broadcastAppend()
        } else if wasPaused {
            // It may have missed the latest commit index while paused.
            sendAppend(to: from)
        }
        // The window may have opened: send as many (size-bounded) appends as allowed, but no
        // empty ones.
        while maybeSendAppend(to: from, sendIfEmpty: false) {}
        if from == leadTransferee, tracker.progress[from]?.match == log.lastIndex {
            emit(.sentTimeoutNow(id, to: from, term: term))
            sendTimeoutNow(to: from)
        }
        if handingOverAfterRemoval, tracker.config.voters.contains(from), tracker.progress[from]?.match == log.lastIndex {
            // A voter holds the whole log (and was sent the commit index): hand over to it.
            handOverAndStepDown()
        }
    }

    mutating func handleHeartbeatResponse(_ m: Message, from: MemberID) {
        tracker.update(from) { pr in
            pr.recentActive = true
            pr.heartbeatAnswered()
        }
        if let pr = tracker.progress[from], pr.match < log.lastIndex {
            sendAppend(to: from)
        }
        if handingOverAfterRemoval, tracker.config.voters.contains(from), tracker.progress[from]?.match == log.lastIndex {
            // This voter holds the whole log and now knows the commit index: hand over to it.
            handOverAndStepDown()
            return
        }
        guard !m.context.isEmpty, let round = ReadOnly.round(fromContext: m.context),
              let acks = readOnly.receiveAck(from: from, round: round)
        else { return }
        guard tracker.config.voters.voteResult({ acks.contains($0) ? true : nil }) == .won else { return }
        for pending in readOnly.release(upTo: round) {
            respondToReadIndex(pending.request, index: pending.index)
        }
    }

    mutating func sendTimeoutNow(to: MemberID) {
        send(Message(type: .timeoutNow, to: to.rawValue))
    }

    /// Leadership transfer (thesis §3.10): stop taking proposals, bring the transferee's log up to
    /// date, then tell it to campaign at once (`MsgTimeoutNow`). Abandoned after an election
    /// timeout.
    mutating func handleTransferLeader(to transferee: MemberID) {
        guard let pr = tracker.progress[transferee], !pr.isLearner else { return }
        if !leadTransferee.isNone {
            if leadTransferee == transferee { return }  // already under way
            emit(.transferAborted(id, to: leadTransferee, term: term))
            abortLeaderTransfer()
        }
        if transferee == id { return }  // already leader
        emit(.transferStarted(id, to: transferee, term: term))
        // The transfer must finish within one election timeout.
        electionElapsed = 0
        leadTransferee = transferee
        if pr.match == log.lastIndex {
            emit(.sentTimeoutNow(id, to: transferee, term: term))
            sendTimeoutNow(to: transferee)
        } else {
            sendAppend(to: transferee)
        }
    }
}
