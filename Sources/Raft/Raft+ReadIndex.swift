import EtcdProto

extension Raft {
    /// Whether this leader committed an entry of its own term. Until then its commit index may
    /// lag what earlier leaders committed, so it cannot serve reads.
    var committedEntryInCurrentTerm: Bool {
        log.termOrZero(at: log.committed) == term
    }

    /// A read-index request reached the leader (from the application or a follower).
    mutating func handleReadIndexRequest(_ m: Message) {
        guard m.entries.count == 1 else { return }
        if !committedEntryInCurrentTerm {
            pendingReadIndexMessages.append(m)
            return
        }
        startReadIndex(m)
    }

    /// Records the commit index for the request and confirms leadership with a heartbeat round;
    /// a single voter is its own quorum and answers at once.
    mutating func startReadIndex(_ m: Message) {
        if tracker.isSingleton && tracker.config.voters.incoming.contains(id) {
            respondToReadIndex(m, index: log.committed)
            return
        }
        let round = readOnly.add(m, index: log.committed, selfID: id)
        broadcastHeartbeat(context: ReadOnly.context(forRound: round))
    }

    mutating func releasePendingReadIndexMessages() {
        guard !pendingReadIndexMessages.isEmpty, committedEntryInCurrentTerm else { return }
        let waiting = pendingReadIndexMessages
        pendingReadIndexMessages.removeAll()
        for m in waiting { startReadIndex(m) }
    }

    /// Answers a confirmed read: a local request becomes a `ReadState`, a follower's a
    /// `MsgReadIndexResp`.
    mutating func respondToReadIndex(_ request: Message, index: LogIndex) {
        if request.from == 0 || MemberID(request.from) == id {
            readStates.append(ReadState(index: index, requestContext: request.entries[0].data))
        } else {
            send(Message(type: .readIndexResp, to: request.from, index: index.rawValue, entries: request.entries))
        }
    }
}
