import EtcdProto
import Testing
@testable import Raft

/// The API the server uses: the Ready/advance contract and the outcomes of each request.
@Suite("RawNode") struct RawNodeTests {
    /// A group driven in-process: messages are stepped straight into their target.
    struct Group {
        var members: [TestMember]
        var applied: [[Entry]]

        init(_ n: Int, configure: (inout RaftConfig) -> Void = { _ in }) {
            let ids = (1...UInt64(n)).map { $0 }
            members = ids.map { TestMember($0, voters: ids, preVote: true, checkQuorum: true, configure: configure) }
            applied = Array(repeating: [], count: n)
        }

        /// Processes Readies and delivers messages until nothing is left.
        mutating func stabilize() {
            var progressed = true
            while progressed {
                progressed = false
                for i in members.indices where members[i].node.hasReady {
                    progressed = true
                    let rd = members[i].node.ready()
                    if let s = rd.snapshot { try! members[i].storage.applySnapshot(s) }
                    members[i].storage.append(rd.entries)
                    if let hs = rd.hardState { members[i].storage.setHardState(hs) }
                    applied[i] += rd.committedEntries
                    for e in rd.committedEntries where e.type == .confChangeV2 {
                        try! members[i].node.applyConfChange(ConfChangeV2(serializedBytes: e.data))
                    }
                    members[i].node.advance()
                    for m in rd.messages + rd.messagesAfterPersist where Int(m.to) <= members.count {
                        try? members[Int(m.to) - 1].node.step(m)
                    }
                }
            }
        }
    }

    @Test("A single member commits on its own write: no messages, and the commit-only Ready needs no sync")
    func singleMemberCommits() throws {
        var m = TestMember(1, voters: [1])
        m.node.campaign()
        var readies: [Ready] = []
        while m.node.hasReady {
            let rd = m.node.ready()
            readies.append(rd)
            m.storage.append(rd.entries)
            if let hs = rd.hardState { m.storage.setHardState(hs) }
            m.node.advance()
        }
        #expect(m.node.role == .leader)
        try m.node.propose([Array("a".utf8), Array("b".utf8)])
        let write = m.node.ready()
        #expect(write.entries.count == 2 && write.mustSync && write.committedEntries.isEmpty)
        #expect(write.messages.isEmpty && write.messagesAfterPersist.isEmpty)
        m.storage.append(write.entries)
        m.node.advance()
        let apply = m.node.ready()
        #expect(apply.committedEntries.map { String(decoding: $0.data, as: UTF8.self) } == ["a", "b"])
        #expect(apply.hardState?.commit == 3)
        #expect(!apply.mustSync)
        m.node.advance()
        #expect(!m.node.hasReady)
    }

    @Test("Acknowledgements and votes wait for the persist; a leader's appends and heartbeats do not")
    func messageClassification() throws {
        var g = Group(3)
        g.members[0].node.campaign()
        g.stabilize()
        #expect(g.members[0].node.role == .leader)
        try g.members[0].node.propose(Array("x".utf8))
        let rd = g.members[0].node.ready()
        #expect(rd.messages.map(\.type) == [.app, .app])
        #expect(rd.messagesAfterPersist.isEmpty)
        g.members[0].storage.append(rd.entries)
        g.members[0].node.advance()
        try g.members[1].node.step(rd.messages[0])
        let follower = g.members[1].node.ready()
        #expect(follower.messages.isEmpty)
        #expect(follower.messagesAfterPersist.map(\.type) == [.appResp])
        g.members[1].node.advance()
    }

    @Test("Dropped proposals say why", arguments: ["no leader", "transfer", "forwarding disabled", "uncommitted limit", "conf change pending"])
    func droppedProposals(reason: String) throws {
        var g = Group(3) { cfg in
            if reason == "forwarding disabled" { cfg.disableProposalForwarding = true }
            if reason == "uncommitted limit" { cfg.maxUncommittedEntriesBytes = 4 }
        }
        let x = Array("xxxx".utf8)
        switch reason {
        case "no leader":
            #expect(throws: RaftError.proposalDropped(.noLeader)) { try g.members[1].node.propose(x) }
        case "transfer":
            g.members[0].node.campaign()
            g.stabilize()
            g.members[2].node.reportUnreachable(MemberID(1))  // irrelevant noise; 3 is a follower
            _ = try? g.members[0].node.transferLeader(to: MemberID(2))
            // The transferee is up to date, so MsgTimeoutNow is queued at once: until it acts, the
            // old leader refuses proposals.
            #expect(throws: RaftError.proposalDropped(.leadershipTransferInProgress)) { try g.members[0].node.propose(x) }
        case "forwarding disabled":
            g.members[0].node.campaign()
            g.stabilize()
            #expect(throws: RaftError.proposalDropped(.forwardingDisabled)) { try g.members[1].node.propose(x) }
        case "uncommitted limit":
            g.members[0].node.campaign()
            g.stabilize()
            try g.members[0].node.propose(x)
            #expect(throws: RaftError.proposalDropped(.uncommittedSizeLimit)) { try g.members[0].node.propose(x) }
            g.stabilize()
            try g.members[0].node.propose(x)  // applied: room again
        default:
            g.members[0].node.campaign()
            g.stabilize()
            try g.members[0].node.proposeConfChange(ConfChangeV2(changes: [ConfChangeSingle(type: .addLearnerNode, nodeID: 4)]))
            #expect(throws: RaftError.proposalDropped(.confChangeRefused)) {
                try g.members[0].node.proposeConfChange(ConfChangeV2(changes: [ConfChangeSingle(type: .addLearnerNode, nodeID: 5)]))
            }
        }
    }

    @Test("Leadership transfer is for leaders, to voters")
    func transferRules() throws {
        var m = TestMember(1, voters: [1, 2], learners: [3])
        #expect(throws: RaftError.notLeader) { try m.node.transferLeader(to: MemberID(2)) }
        m.becomeLeaderNow()
        #expect(throws: RaftError.invalidTransferee) { try m.node.transferLeader(to: MemberID(3)) }
        #expect(throws: RaftError.invalidTransferee) { try m.node.transferLeader(to: MemberID(9)) }
        try m.node.transferLeader(to: MemberID(2))
        #expect(m.node.status.leadTransferee == MemberID(2))
    }

    @Test("Local message types and answers from strangers are refused")
    func stepRefusals() {
        var m = TestMember(1, voters: [1, 2, 3])
        #expect(throws: RaftError.stepLocalMessage) { try m.node.step(Message(type: .hup, from: 2)) }
        #expect(throws: RaftError.stepPeerNotFound) { try m.node.step(Message(type: .appResp, to: 1, from: 9, term: 1)) }
        var unknown = Message()
        unknown.typeRaw = 99
        #expect(throws: RaftError.unknownMessageType(99)) { try m.node.step(unknown) }
        #expect(throws: RaftError.missingTerm) { try m.node.step(Message(type: .vote, to: 1, from: 2)) }
    }

    @Test("A follower forwards a proposal that arrived with a term, without the term")
    func forwardedProposalLosesItsTerm() throws {
        var g = Group(3)
        g.members[0].node.campaign()
        g.stabilize()
        try g.members[1].node.step(Message(type: .prop, to: 2, from: 3, term: 1, entries: [entry(0, 0, "x")]))
        let rd = g.members[1].node.ready()
        #expect(rd.messages.map(\.type) == [.prop])
        #expect(rd.messages.first?.term == 0 && rd.messages.first?.to == 1)
        g.members[1].node.advance()
    }

    @Test("A single member answers a read once it committed an entry of its term")
    func singleMemberReadIndex() throws {
        var m = TestMember(1, voters: [1])
        m.node.campaign()
        // A candidate knows no leader: the read is refused, not queued.
        #expect(throws: RaftError.proposalDropped(.noLeader)) { try m.node.readIndex(context: [1]) }
        while m.node.hasReady {
            let rd = m.node.ready()
            m.storage.append(rd.entries)
            if let hs = rd.hardState { m.storage.setHardState(hs) }
            m.node.advance()
        }
        #expect(m.node.role == .leader && m.node.commitIndex == LogIndex(1))
        try m.node.readIndex(context: [2])
        let rd = m.node.ready()
        #expect(rd.readStates == [ReadState(index: LogIndex(1), requestContext: [2])])
        m.node.advance()
    }

    @Test("A restarted member recovers term, vote and commit, and hands out only what was not applied")
    func restartFromStorage() throws {
        var g = Group(3)
        g.members[0].node.campaign()
        g.stabilize()
        try g.members[0].node.propose([Array("a".utf8), Array("b".utf8)])
        g.stabilize()
        let storage = g.members[1].storage
        var cfg = RaftConfig(id: MemberID(2), storage: storage)
        cfg.applied = LogIndex(2)
        var restarted = try RawNode(config: cfg)
        #expect(restarted.term == g.members[1].node.term)
        #expect(restarted.commitIndex == LogIndex(3))
        #expect(restarted.status.vote == MemberID(1))
        let rd = restarted.ready()
        #expect(rd.committedEntries.map(\.index) == [3])
        restarted.advance()
    }

    @Test("A conf change that cannot apply throws and changes nothing")
    func invalidConfChange() {
        var m = TestMember(1, voters: [1])
        #expect(throws: ConfChangeError.removedAllVoters) {
            try m.node.applyConfChange(ConfChangeV2(changes: [ConfChangeSingle(type: .removeNode, nodeID: 1)]))
        }
        #expect(m.node.confState.voters == [1])
        #expect(throws: ConfChangeError.notJoint) { try m.node.applyConfChange(ConfChangeV2()) }
    }

    @Test("Bad configurations are refused", arguments: ["id", "heartbeat", "election", "inflight"])
    func configValidation(field: String) {
        var cfg = RaftConfig(id: MemberID(1), storage: MemoryStorage(confState: ConfState(voters: [1])))
        switch field {
        case "id": cfg.id = .none
        case "heartbeat": cfg.heartbeatTicks = 0
        case "election": cfg.electionTicks = 1
        default: cfg.maxInflightMessages = 0
        }
        #expect(throws: RaftConfigError.self) { try RawNode(config: cfg) }
    }

    @Test("Status shows progress on the leader only")
    func statusProgress() {
        var g = Group(3)
        g.members[0].node.campaign()
        g.stabilize()
        #expect(g.members[0].node.status.progress.count == 3)
        #expect(g.members[1].node.status.progress.isEmpty)
        #expect(g.members[1].node.leaderID == MemberID(1))
        #expect(g.members[0].node.status.progress[MemberID(2)]?.state == .replicate)
    }
}
