import EtcdProto
@testable import Raft

/// A member built for a unit test, with direct access to its state machine.
struct TestMember {
    var node: RawNode
    let storage: MemoryStorage

    var raft: Raft {
        get { node.raft }
        _modify { yield &node.raft }
    }

    /// A member of a new group of `voters` (and `learners`), optionally with a stored log
    /// (`logTerms[i]` is the term of index i + 1) and a stored term.
    init(_ id: UInt64, voters: [UInt64], learners: [UInt64] = [], logTerms: [UInt64] = [], term: UInt64 = 0,
         preVote: Bool = false, checkQuorum: Bool = false, electionTicks: Int = 10, heartbeatTicks: Int = 1,
         seed: UInt64? = nil, configure: (inout RaftConfig) -> Void = { _ in }) {
        var cs = ConfState()
        cs.voters = voters
        cs.learners = learners
        storage = MemoryStorage(confState: cs)
        storage.append(logTerms.enumerated().map { Entry(term: $1, index: UInt64($0 + 1), data: []) })
        if term > 0 { storage.setHardState(HardState(term: term, vote: 0, commit: 0)) }
        var config = RaftConfig(id: MemberID(id), storage: storage, randomSeed: seed)
        config.preVote = preVote
        config.checkQuorum = checkQuorum
        config.electionTicks = electionTicks
        config.heartbeatTicks = heartbeatTicks
        configure(&config)
        node = try! RawNode(config: config)
    }

    /// Takes every queued message (both lists), in order: what the member sends once its
    /// current state is persisted.
    mutating func takeMessages() -> [Message] {
        let all = raft.messages + raft.messagesAfterPersist
        raft.messages = []
        raft.messagesAfterPersist = []
        return all
    }

    /// Persists and acknowledges what is pending (one Ready cycle): own votes and own log acks
    /// take effect. Returns the messages of the Ready.
    @discardableResult
    mutating func persist() -> [Message] {
        guard node.hasReady else { return [] }
        let rd = node.ready()
        if let s = rd.snapshot { try! storage.applySnapshot(s) }
        storage.append(rd.entries)
        if let hs = rd.hardState { storage.setHardState(hs) }
        node.advance()
        return rd.messages + rd.messagesAfterPersist
    }

    mutating func step(_ m: Message) {
        try? raft.step(m)
    }

    /// Makes this member leader of the next term (as if every voter granted), persists its empty
    /// entry and, unless told otherwise, has every other voter acknowledge it (so it is
    /// committed and the followers are in replicate state).
    mutating func becomeLeaderNow(acknowledgeEmptyEntry: Bool = true) {
        raft.becomeCandidate()
        raft.becomeLeader()
        raft.broadcastAppend()
        persist()
        if acknowledgeEmptyEntry {
            let last = raft.log.lastIndex.rawValue
            for voter in raft.tracker.voterIDs where voter != raft.id {
                step(msg(.appResp, from: voter.rawValue, to: raft.id.rawValue, term: raft.term.rawValue, index: last))
            }
            persist()
        }
        _ = takeMessages()
    }
}

func msg(_ type: MessageType, from: UInt64, to: UInt64, term: UInt64 = 0, logTerm: UInt64 = 0, index: UInt64 = 0,
         entries: [Entry] = [], commit: UInt64 = 0, reject: Bool = false, rejectHint: UInt64 = 0) -> Message {
    Message(type: type, to: to, from: from, term: term, logTerm: logTerm, index: index, entries: entries,
            commit: commit, reject: reject, rejectHint: rejectHint)
}

func entry(_ term: UInt64, _ index: UInt64, _ data: String = "") -> Entry {
    Entry(term: term, index: index, data: Array(data.utf8))
}

/// The messages as (type, to) pairs, for compact expectations.
func summary(_ messages: [Message]) -> [String] {
    messages.map { "\($0.type!.etcdName) \($0.from)->\($0.to) t\($0.term)" }
}
