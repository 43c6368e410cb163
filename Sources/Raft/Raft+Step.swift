import EtcdProto

/// The context of a vote request sent because of a leadership transfer: such a request is granted
/// even by members that heard from the old leader recently (etcd's `CampaignTransfer`).
let campaignTransferContext: [UInt8] = Array("CampaignTransfer".utf8)

/// Why a member campaigns.
enum CampaignKind {
    /// PreVote: ask without raising the term.
    case preElection
    /// A real election at `term + 1`.
    case election
    /// An election forced by the leader's `MsgTimeoutNow` (no pre-vote, ignores leases).
    case transfer
}

extension Raft {
    /// Feeds one message into the state machine: first the term rules every member applies
    /// (§5.1: adopt a newer term; answer or ignore older ones), then the vote rules (§5.2, §5.4.1),
    /// then the role's own handler.
    mutating func step(_ m: Message) throws(RaftError) {
        guard let type = m.type else { throw .unknownMessageType(m.typeRaw) }
        let messageTerm = Term(m.term)
        let from = MemberID(m.from)

        if m.term == 0 {
            // A local message, a proposal or a read request: no term to compare.
        } else if messageTerm > term {
            if type == .vote || type == .preVote {
                let forced = m.context == campaignTransferContext
                let inLease = checkQuorum && !lead.isNone && electionElapsed < electionTicks
                if !forced && inLease {
                    // Heard from a live leader within the minimum election timeout: do not let a
                    // member that was cut off (and so raised its term) disrupt it (§6 of the thesis).
                    emit(.ignoredVoteInLease(id, type: type, from: from, term: term))
                    return
                }
            }
            if type == .preVote {
                // A pre-vote never changes our term.
            } else if type == .preVoteResp && !m.reject {
                // A granted pre-vote carries the future term we asked about; we raise our term
                // ourselves if a quorum grants.
            } else {
                emit(.sawHigherTerm(id, term: term, messageType: type, from: from, messageTerm: messageTerm))
                if type == .app || type == .heartbeat || type == .snap {
                    becomeFollower(term: messageTerm, leader: from)
                } else {
                    // Adopting a newer term does not restart the election timer: only hearing
                    // from a leader or granting a vote does (Raft paper, Figure 2). Otherwise
                    // members that keep campaigning in vain — removed ones that do not know it,
                    // without PreVote — could push back a good candidate's timeout forever.
                    let elapsed = electionElapsed
                    becomeFollower(term: messageTerm, leader: .none)
                    electionElapsed = elapsed
                }
            }
        } else if messageTerm < term {
            if type == .heartbeat || type == .app {
                // A leader of an older term: tell it our term so it steps down (§5.1: a stale
                // request is rejected with the current term). etcd answers only with CheckQuorum
                // or PreVote on, counting on our vote requests to reach that leader otherwise — but
                // a member behind on configuration changes asks only the members of its stale
                // configuration, which may not include the leader: both would wait forever.
                send(Message(type: .appResp, to: m.from))
            } else if type == .preVote || type == .vote {
                // Reject with our term (§5.1), so that the candidate adopts it and can campaign
                // above it. (etcd ignores a stale MsgVote; but a voter behind on configuration
                // changes may have raised its term campaigning among members that were removed,
                // and a candidate it never hears from could then never catch up with it.)
                send(Message(type: type == .vote ? .voteResp : .preVoteResp, to: m.from, term: term.rawValue, reject: true))
            }
            // Everything else from an older term is ignored.
            return
        }

        switch type {
        case .hup:
            hup(.election)
        case .vote, .preVote:
            handleVoteRequest(m, type: type)
        default:
            switch role {
            case .leader: try stepLeader(m, type: type)
            case .candidate, .preCandidate: try stepCandidate(m, type: type)
            case .follower: try stepFollower(m, type: type)
            }
        }
    }

    /// Starts an election if this member may: it is a voter, not already leader, and has no
    /// committed configuration change left to apply (it could be campaigning in a configuration
    /// it is about to leave).
    mutating func hup(_ kind: CampaignKind) {
        if role == .leader { return }
        guard isPromotable else {
            emit(.cannotCampaignNotVoter(id))
            return
        }
        if hasUnappliedConfChanges {
            emit(.cannotCampaignPendingConfChange(id, term: term))
            return
        }
        emit(.startedElection(id, term: term))
        switch kind {
        case .transfer: campaign(.transfer)
        case .preElection, .election: campaign(preVote ? .preElection : .election)
        }
    }

    /// Whether committed configuration changes wait to be applied.
    var hasUnappliedConfChanges: Bool {
        guard log.committed > log.applied else { return false }
        var lo = Swift.max(log.applied + 1, log.firstIndex)
        let hi = log.committed + 1
        while lo < hi {
            guard case .success(let page) = log.slice(from: lo, to: hi, maxSizeBytes: 1024 * 1024), let last = page.last else {
                preconditionFailure("cannot read unapplied entries \(lo)..<\(hi)")
            }
            for e in page where e.typeRaw != EntryType.normal.rawValue { return true }
            lo = LogIndex(last.index) + 1
        }
        return false
    }

    /// Becomes a (pre-)candidate and asks every voter for its vote.
    mutating func campaign(_ kind: CampaignKind) {
        let voteType: MessageType
        let voteTerm: Term
        if kind == .preElection {
            becomePreCandidate()
            voteType = .preVote
            // Pre-votes are asked for the next term, before ours is raised.
            voteTerm = term.next
            // A pre-vote changes nothing durable: our own counts at once.
            tracker.recordVote(id, granted: true)
            emit(.receivedVote(id, type: .preVoteResp, from: id, granted: true, term: term))
            if tracker.tallyVotes().result == .won {
                campaign(.election)
                return
            }
        } else {
            becomeCandidate()
            voteType = .vote
            voteTerm = term
            // Our own vote counts once our new term and vote are persisted.
            stepsAfterPersist.append(Message(type: .voteResp, to: id.rawValue, from: id.rawValue, term: term.rawValue))
        }
        let lastIndex = log.lastIndex
        let lastTerm = log.lastTerm
        for voter in tracker.voterIDs where voter != id {
            send(Message(
                type: voteType, to: voter.rawValue, term: voteTerm.rawValue, logTerm: lastTerm.rawValue,
                index: lastIndex.rawValue, context: kind == .transfer ? campaignTransferContext : []))
        }
    }

    /// Answers a vote or pre-vote request (§5.2, §5.4.1): grant it if we have not voted for
    /// someone else in this term (a pre-vote for a later term is always open) and the candidate's
    /// log is at least as up-to-date as ours.
    ///
    /// Learners answer too: a learner promoted by a committed change it has not yet applied may be
    /// needed to elect a leader. Its vote only counts with candidates that see it as a voter.
    mutating func handleVoteRequest(_ m: Message, type: MessageType) {
        let from = MemberID(m.from)
        let responseType: MessageType = type == .vote ? .voteResp : .preVoteResp
        let canVote = vote == from
            || (vote.isNone && lead.isNone)
            || (type == .preVote && Term(m.term) > term)
        if canVote && log.isUpToDate(lastIndex: LogIndex(m.index), lastTerm: Term(m.logTerm)) {
            emit(.castVote(id, type: type, for: from, term: term))
            // Answer with the request's term, not ours: for a pre-vote ours is older, and the
            // pre-candidate would drop an answer from its past.
            send(Message(type: responseType, to: m.from, term: m.term))
            if type == .vote {
                // Only real votes are recorded (and persisted before the answer leaves).
                electionElapsed = 0
                vote = from
            }
        } else {
            emit(.rejectedVote(id, type: type, from: from, term: term))
            send(Message(type: responseType, to: m.from, term: term.rawValue, reject: true))
        }
    }

    // MARK: candidate

    mutating func stepCandidate(_ m: Message, type: MessageType) throws(RaftError) {
        // Only answers to our current kind of campaign count: a candidate may still receive
        // pre-vote answers from its pre-candidate phase of this term.
        let myResponseType: MessageType = role == .preCandidate ? .preVoteResp : .voteResp
        let from = MemberID(m.from)
        switch type {
        case .prop:
            emit(.droppedProposal(id, .noLeader))
            throw .proposalDropped(.noLeader)
        case .readIndex:
            throw .proposalDropped(.noLeader)
        case .app:
            // A leader of our term exists (m.term == term here).
            becomeFollower(term: Term(m.term), leader: from)
            handleAppendEntries(m)
        case .heartbeat:
            becomeFollower(term: Term(m.term), leader: from)
            handleHeartbeat(m)
        case .snap:
            becomeFollower(term: Term(m.term), leader: from)
            handleSnapshot(m)
        case myResponseType:
            tracker.recordVote(from, granted: !m.reject)
            emit(.receivedVote(id, type: type, from: from, granted: !m.reject, term: term))
            switch tracker.tallyVotes().result {
            case .won:
                if role == .preCandidate {
                    campaign(.election)
                } else {
                    becomeLeader()
                    broadcastAppend()
                }
            case .lost:
                // A pre-vote answer may carry a later term; keep ours.
                becomeFollower(term: term, leader: .none)
            case .pending:
                break
            }
        default:
            // MsgTimeoutNow and the rest mean nothing to a candidate.
            break
        }
    }

    // MARK: follower

    mutating func stepFollower(_ m: Message, type: MessageType) throws(RaftError) {
        let from = MemberID(m.from)
        switch type {
        case .prop:
            if lead.isNone {
                emit(.droppedProposal(id, .noLeader))
                throw .proposalDropped(.noLeader)
            }
            if disableProposalForwarding {
                emit(.droppedProposal(id, .forwardingDisabled))
                throw .proposalDropped(.forwardingDisabled)
            }
            var forwarded = m
            forwarded.to = lead.rawValue
            forwarded.term = 0  // proposals travel without a term
            send(forwarded)
        case .app:
            electionElapsed = 0
            lead = from
            handleAppendEntries(m)
        case .heartbeat:
            electionElapsed = 0
            lead = from
            handleHeartbeat(m)
        case .snap:
            electionElapsed = 0
            lead = from
            handleSnapshot(m)
        case .transferLeader:
            guard !lead.isNone else { throw .proposalDropped(.noLeader) }
            var forwarded = m
            forwarded.to = lead.rawValue
            forwarded.term = 0
            send(forwarded)
        case .timeoutNow:
            // The leader hands over: campaign now, without pre-vote (we know the cluster is
            // healthy) and past any lease.
            hup(.transfer)
        case .readIndex:
            guard !lead.isNone else { throw .proposalDropped(.noLeader) }
            var forwarded = m
            forwarded.to = lead.rawValue
            forwarded.term = 0  // read requests travel without a term
            send(forwarded)
        case .readIndexResp:
            guard m.entries.count == 1 else { return }
            readStates.append(ReadState(index: LogIndex(m.index), requestContext: m.entries[0].data))
        default:
            break
        }
    }

    /// The follower side of AppendEntries (§5.3): accept entries that continue our log at
    /// `(index, logTerm)`, or reject with a hint of where our logs may match.
    mutating func handleAppendEntries(_ m: Message) {
        let index = LogIndex(m.index)
        if index < log.committed {
            // Everything up to our commit index is settled; tell the leader where we are.
            send(Message(type: .appResp, to: m.from, index: log.committed.rawValue))
            return
        }
        if let lastNew = log.maybeAppend(index: index, logTerm: Term(m.logTerm), commit: LogIndex(m.commit), entries: m.entries) {
            send(Message(type: .appResp, to: m.from, index: lastNew.rawValue))
            return
        }
        // Find the largest (index, term) at or below the probe whose term is at most the
        // leader's term there: every entry above it with a bigger term cannot be in the leader's
        // log, so the leader can skip them all in one round trip.
        let hintIndex = Swift.min(index, log.lastIndex)
        let hint = log.findConflictByTerm(index: hintIndex, term: Term(m.logTerm))
        send(Message(type: .appResp, to: m.from, logTerm: hint.term.rawValue, index: m.index,
                     reject: true, rejectHint: hint.index.rawValue))
    }

    mutating func handleHeartbeat(_ m: Message) {
        // The leader sends min(our match, its commit), so this never passes our log.
        log.commit(to: Swift.min(LogIndex(m.commit), log.lastIndex))
        send(Message(type: .heartbeatResp, to: m.from, context: m.context))
    }

    mutating func handleSnapshot(_ m: Message) {
        let index = LogIndex(m.snapshot.metadata.index)
        let term = Term(m.snapshot.metadata.term)
        if restore(m.snapshot) {
            emit(.restoredSnapshot(id, index: index, term: term))
            send(Message(type: .appResp, to: m.from, index: log.lastIndex.rawValue))
        } else {
            emit(.ignoredSnapshot(id, index: index, term: term))
            send(Message(type: .appResp, to: m.from, index: log.committed.rawValue))
        }
    }

    /// Installs a snapshot sent by the leader: the log and the configuration are replaced.
    /// Returns false when the snapshot is not newer than what we committed, or our log already
    /// has its last entry (then only the commit index moves).
    mutating func restore(_ snapshot: Snapshot) -> Bool {
        let index = LogIndex(snapshot.metadata.index)
        let snapTerm = Term(snapshot.metadata.term)
        if index <= log.committed { return false }
        guard role == .follower else {
            // Cannot happen (a snapshot arrives from a leader of our term, which makes us a
            // follower first); refuse rather than corrupt.
            becomeFollower(term: term.next, leader: .none)
            return false
        }
        let cs = snapshot.metadata.confState
        let me = id.rawValue
        guard cs.voters.contains(me) || cs.learners.contains(me) || cs.votersOutgoing.contains(me) else {
            // A snapshot that does not include us would leave us without a configuration.
            return false
        }
        if log.matchTerm(index, snapTerm) {
            log.commit(to: index)
            return false
        }
        log.restore(snapshot)
        tracker = ProgressTracker(maxInflight: tracker.maxInflight)
        let restored: ConfChanger.Outcome
        do {
            restored = try ConfChanger.restore(cs, tracker: tracker, lastIndex: log.lastIndex)
        } catch {
            preconditionFailure("cannot restore the configuration of snapshot \(index): \(error)")
        }
        let now = switchToConfig(restored.config, restored.progress)
        precondition(now.isEquivalent(to: cs), "restored configuration \(now) differs from the snapshot's \(cs)")
        return true
    }
}
