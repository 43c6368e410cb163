import EtcdProto
import Testing
@testable import Raft

/// One test per claim of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
/// Consensus Algorithm", §5), named after the claim. PreVote and CheckQuorum are off unless a
/// test says otherwise: the paper has neither.
@Suite("Raft paper §5") struct PaperTests {
    // MARK: §5.1 Raft basics

    @Test("§5.1 A follower adopts a higher term from any message and keeps following")
    func followerAdoptsHigherTerm() {
        var m = TestMember(1, voters: [1, 2, 3])
        m.raft.becomeFollower(term: Term(1), leader: MemberID(2))
        m.step(msg(.app, from: 2, to: 1, term: 2))
        #expect(m.raft.term == Term(2))
        #expect(m.raft.role == .follower)
        #expect(m.raft.lead == MemberID(2))
    }

    @Test("§5.1 A candidate or leader that sees a higher term reverts to follower", arguments: [RaftRole.candidate, .leader])
    func candidateAndLeaderRevertOnHigherTerm(role: RaftRole) {
        var m = TestMember(1, voters: [1, 2, 3])
        m.raft.becomeCandidate()
        if role == .leader { m.raft.becomeLeader() }
        #expect(m.raft.role == role)
        m.step(msg(.app, from: 2, to: 1, term: 2))
        #expect(m.raft.term == Term(2))
        #expect(m.raft.role == .follower)
        #expect(m.raft.lead == MemberID(2))
    }

    @Test("§5.1 A request with a stale term is rejected")
    func staleTermRequestIsRejected() {
        var m = TestMember(1, voters: [1, 2, 3], term: 2)
        m.step(msg(.app, from: 2, to: 1, term: 1, logTerm: 0, index: 0, entries: [entry(1, 1, "x")]))
        #expect(m.raft.log.lastIndex == .zero)
        #expect(m.raft.term == Term(2))
        // The answer carries the newer term, so the stale leader steps down.
        #expect(summary(m.takeMessages()) == ["MsgAppResp 1->2 t2"])
    }

    @Test("§5.1 A vote request with a stale term is refused with the current term")
    func staleVoteRequestIsRefused() {
        var m = TestMember(1, voters: [1, 2, 3], term: 5)
        m.step(msg(.vote, from: 2, to: 1, term: 3, logTerm: 0, index: 0))
        let answers = m.takeMessages()
        #expect(summary(answers) == ["MsgVoteResp 1->2 t5"])
        #expect(answers.first?.reject == true)
        #expect(m.raft.vote == .none)
    }

    // MARK: §5.2 Leader election

    @Test("§5.2 Members start as followers")
    func membersStartAsFollowers() {
        let m = TestMember(1, voters: [1, 2, 3])
        #expect(m.raft.role == .follower)
        #expect(m.raft.term == .zero)
    }

    @Test("§5.2 A leader sends periodic heartbeats without entries to all followers")
    func leaderBroadcastsHeartbeats() {
        var m = TestMember(1, voters: [1, 2, 3], heartbeatTicks: 1)
        m.becomeLeaderNow()
        m.node.tick()
        let sent = m.takeMessages()
        #expect(summary(sent) == ["MsgHeartbeat 1->2 t1", "MsgHeartbeat 1->3 t1"])
        #expect(sent.allSatisfy { $0.entries.isEmpty })
    }

    @Test("§5.2 A follower hearing nothing for an election timeout starts an election")
    func followerStartsElectionAfterTimeout() {
        var m = TestMember(1, voters: [1, 2, 3], electionTicks: 10)
        for _ in 0..<(2 * 10) { m.node.tick() }
        #expect(m.raft.role == .candidate)
        #expect(m.raft.term == Term(1))
        #expect(m.raft.vote == MemberID(1))
        #expect(summary(m.takeMessages()) == ["MsgVote 1->2 t1", "MsgVote 1->3 t1"])
    }

    @Test("§5.2 A candidate whose election times out starts a new one in the next term")
    func candidateStartsNewElectionAfterTimeout() {
        var m = TestMember(1, voters: [1, 2, 3], electionTicks: 10)
        m.node.campaign()
        #expect(m.raft.term == Term(1))
        _ = m.takeMessages()
        for _ in 0..<(2 * 10) { m.node.tick() }
        #expect(m.raft.role == .candidate)
        #expect(m.raft.term == Term(2))
        #expect(summary(m.takeMessages()) == ["MsgVote 1->2 t2", "MsgVote 1->3 t2"])
    }

    struct ElectionCase: Sendable, CustomTestStringConvertible {
        var size: Int
        var votes: [UInt64: Bool]
        var role: RaftRole
        var testDescription: String { "\(size) members, votes \(votes.sorted { $0.key < $1.key }) → \(role)" }
    }

    @Test("§5.2 A candidate wins with votes from a majority of the full group, and loses when a majority refuses",
          arguments: [
            ElectionCase(size: 1, votes: [:], role: .leader),
            ElectionCase(size: 3, votes: [2: true, 3: true], role: .leader),
            ElectionCase(size: 3, votes: [2: true], role: .leader),
            ElectionCase(size: 5, votes: [2: true, 3: true, 4: true, 5: true], role: .leader),
            ElectionCase(size: 5, votes: [2: true, 3: true], role: .leader),
            ElectionCase(size: 3, votes: [:], role: .candidate),
            ElectionCase(size: 5, votes: [2: true], role: .candidate),
            ElectionCase(size: 5, votes: [2: false, 3: false], role: .candidate),
            ElectionCase(size: 3, votes: [2: false, 3: false], role: .follower),
            ElectionCase(size: 5, votes: [2: false, 3: false, 4: false], role: .follower),
          ])
    func candidateWinsWithMajority(_ c: ElectionCase) {
        var m = TestMember(1, voters: (1...UInt64(c.size)).map { $0 })
        m.node.campaign()
        m.persist()  // the candidate's own vote counts once it is durable
        for (id, granted) in c.votes.sorted(by: { $0.key < $1.key }) {
            m.step(msg(.voteResp, from: id, to: 1, term: 1, reject: !granted))
        }
        #expect(m.raft.role == c.role)
        #expect(m.raft.term == Term(1))
    }

    @Test("§5.2 A member votes for at most one candidate per term, first come first served",
          arguments: [(0, 2, false), (0, 3, false), (2, 2, false), (3, 3, false), (2, 3, true), (3, 2, true)] as [(UInt64, UInt64, Bool)])
    func followerVotesAtMostOnce(priorVote: UInt64, candidate: UInt64, rejected: Bool) {
        var m = TestMember(1, voters: [1, 2, 3])
        m.raft.term = Term(1)
        m.raft.vote = MemberID(priorVote)
        m.step(msg(.vote, from: candidate, to: 1, term: 1))
        let sent = m.takeMessages()
        #expect(sent.count == 1)
        #expect(sent.first?.type == .voteResp)
        #expect(sent.first?.reject == rejected)
    }

    @Test("§5.2 A candidate that hears from a leader of at least its term returns to follower", arguments: [1, 2] as [UInt64])
    func candidateFallsBack(leaderTerm: UInt64) {
        var m = TestMember(1, voters: [1, 2, 3])
        m.node.campaign()
        #expect(m.raft.role == .candidate)
        m.step(msg(.app, from: 2, to: 1, term: leaderTerm))
        #expect(m.raft.role == .follower)
        #expect(m.raft.term == Term(leaderTerm))
        #expect(m.raft.lead == MemberID(2))
    }

    @Test("§5.2 Election timeouts are drawn at random from [electionTicks, 2 × electionTicks)")
    func electionTimeoutIsRandomized() {
        var m = TestMember(1, voters: [1, 2, 3], electionTicks: 10, seed: 7)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            m.raft.resetRandomizedElectionTimeout()
            let t = m.raft.randomizedElectionTimeoutTicks
            #expect(t >= 10 && t < 20)
            seen.insert(t)
        }
        #expect(seen.count == 10)
    }

    @Test("§5.2 Randomized timeouts make simultaneous candidacies rare")
    func randomizedTimeoutsRarelyCollide() {
        var collisions = 0
        let rounds = 1000
        var members = (1...5).map { TestMember(UInt64($0), voters: [1, 2, 3, 4, 5], electionTicks: 10, seed: UInt64($0) * 7919) }
        for _ in 0..<rounds {
            for i in members.indices { members[i].raft.resetRandomizedElectionTimeout() }
            let timeouts = members.map { $0.raft.randomizedElectionTimeoutTicks }
            if timeouts.filter({ $0 == timeouts.min()! }).count > 1 { collisions += 1 }
        }
        // Five members drawing from ten values: the first timeout is shared in about a third of
        // the rounds by chance; it must not be much worse than that.
        #expect(Double(collisions) / Double(rounds) < 0.45)
    }

    @Test("§5.2 Election Safety: two candidates in one term cannot both win")
    func twoCandidatesCannotBothWin() {
        var voter = TestMember(3, voters: [1, 2, 3])
        voter.step(msg(.vote, from: 1, to: 3, term: 1))
        voter.step(msg(.vote, from: 2, to: 3, term: 1))
        let answers = voter.takeMessages()
        #expect(answers.map(\.reject) == [false, true])
    }

    // MARK: §5.3 Log replication

    @Test("§5.3 The leader appends a proposal to its log and sends it to every follower in parallel")
    func leaderStartsReplication() throws {
        var m = TestMember(1, voters: [1, 2, 3])
        m.becomeLeaderNow()
        try m.node.propose(Array("some data".utf8))
        #expect(m.raft.log.lastIndex == LogIndex(2))
        let sent = m.takeMessages()
        #expect(summary(sent) == ["MsgApp 1->2 t1", "MsgApp 1->3 t1"])
        for s in sent {
            #expect(s.index == 1 && s.logTerm == 1)
            #expect(s.entries == [entry(1, 2, "some data")])
            #expect(s.commit == 1)  // the empty entry; the new one is not committed yet
        }
        #expect(m.raft.log.committed == LogIndex(1))
    }

    @Test("§5.3 An entry is committed once replicated on a majority; the leader then tells the followers")
    func leaderCommitsEntryOnMajority() throws {
        var m = TestMember(1, voters: [1, 2, 3])
        m.becomeLeaderNow()
        try m.node.propose(Array("x".utf8))
        m.persist()
        _ = m.takeMessages()
        m.step(msg(.appResp, from: 2, to: 1, term: 1, index: 2))
        #expect(m.raft.log.committed == LogIndex(2))
        let rd = m.node.ready()
        #expect(rd.committedEntries.map(\.index) == [2])
        #expect(rd.messages.filter { $0.type == .app }.map(\.commit) == [2, 2])
        m.node.advance()
    }

    @Test("§5.3 Committing needs acknowledgements from a majority, counting the leader once it persisted",
          arguments: [(1, [], true), (3, [], false), (3, [2], true), (5, [2], false), (5, [2, 3], true), (5, [2, 3, 4, 5], true)] as [(Int, [UInt64], Bool)])
    func commitNeedsMajority(size: Int, acks: [UInt64], committed: Bool) throws {
        var m = TestMember(1, voters: (1...UInt64(size)).map { $0 })
        m.becomeLeaderNow()
        try m.node.propose(Array("x".utf8))
        m.persist()  // the leader's own write completes: a single member commits here
        for a in acks { m.step(msg(.appResp, from: a, to: 1, term: 1, index: 2)) }
        #expect((m.raft.log.committed == LogIndex(2)) == committed)
    }

    @Test("§5.3 Committing an entry commits every entry before it, including those of earlier leaders")
    func commitIncludesPrecedingEntries() throws {
        var m = TestMember(1, voters: [1, 2, 3], logTerms: [1, 1], term: 1)
        m.becomeLeaderNow(acknowledgeEmptyEntry: false)  // term 2, empty entry at 3
        try m.node.propose(Array("x".utf8))
        m.persist()
        m.step(msg(.appResp, from: 2, to: 1, term: 2, index: 4))
        #expect(m.raft.log.committed == LogIndex(4))
        #expect(m.node.ready().committedEntries.map(\.index) == [1, 2, 3, 4])
    }

    @Test("§5.3 A follower applies entries it learns are committed, in log order")
    func followerAppliesCommittedEntriesInOrder() {
        var m = TestMember(2, voters: [1, 2, 3])
        m.step(msg(.app, from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [entry(1, 1, "a"), entry(1, 2, "b")], commit: 1))
        var rd = m.node.ready()
        #expect(rd.committedEntries == [entry(1, 1, "a")])
        m.storage.append(rd.entries)
        m.node.advance()
        m.step(msg(.app, from: 1, to: 2, term: 1, logTerm: 1, index: 2, commit: 2))
        rd = m.node.ready()
        #expect(rd.committedEntries == [entry(1, 2, "b")])
        m.node.advance()
    }

    @Test("§5.3 A follower refuses entries when its log lacks the preceding index and term",
          arguments: [(0, 0, false, 1), (1, 1, false, 1), (2, 2, false, 2), (1, 2, true, 2), (3, 3, true, 3)] as [(UInt64, UInt64, Bool, UInt64)])
    func followerChecksPrecedingEntry(logTerm: UInt64, index: UInt64, rejected: Bool, answerIndex: UInt64) {
        var m = TestMember(2, voters: [1, 2, 3], logTerms: [1, 2], term: 2) { _ in }
        m.raft.log.commit(to: LogIndex(1))
        m.raft.becomeFollower(term: Term(2), leader: MemberID(1))
        m.step(msg(.app, from: 1, to: 2, term: 2, logTerm: logTerm, index: index, commit: 1))
        let answers = m.takeMessages()
        #expect(answers.count == 1)
        #expect(answers[0].type == .appResp)
        #expect(answers[0].reject == rejected)
        #expect(answers[0].index == answerIndex)
    }

    struct AppendCase: Sendable {
        var logTerm: UInt64
        var index: UInt64
        var entries: [Entry]
        var resultTerms: [UInt64]
    }

    @Test("§5.3 A follower deletes a conflicting entry and all after it, then appends the new ones",
          arguments: [
            AppendCase(logTerm: 2, index: 2, entries: [entry(3, 3)], resultTerms: [1, 2, 3]),
            AppendCase(logTerm: 1, index: 1, entries: [entry(3, 2), entry(4, 3)], resultTerms: [1, 3, 4]),
            AppendCase(logTerm: 0, index: 0, entries: [entry(1, 1)], resultTerms: [1, 2]),
            AppendCase(logTerm: 0, index: 0, entries: [entry(3, 1)], resultTerms: [3]),
          ])
    func followerReplacesConflictingSuffix(_ c: AppendCase) {
        var m = TestMember(2, voters: [1, 2, 3], logTerms: [1, 2], term: 2)
        m.raft.becomeFollower(term: Term(2), leader: MemberID(1))
        m.step(msg(.app, from: 1, to: 2, term: 2, logTerm: c.logTerm, index: c.index, entries: c.entries))
        let terms = (1...m.raft.log.lastIndex.rawValue).map { m.raft.log.termOrZero(at: LogIndex($0)).rawValue }
        #expect(terms == c.resultTerms)
    }

    @Test("§5.3 Figure 7: the leader brings every follower's log in line with its own",
          arguments: [
            [1, 1, 1, 4, 4, 5, 5, 6, 6],
            [1, 1, 1, 4],
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
            [1, 1, 1, 4, 4, 4, 4],
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
          ] as [[UInt64]])
    func leaderSyncsFollowerLog(followerTerms: [UInt64]) {
        let leaderTerms: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        var leader = TestMember(1, voters: [1, 2, 3], logTerms: leaderTerms, term: 7)
        var follower = TestMember(2, voters: [1, 2, 3], logTerms: followerTerms, term: 7)
        leader.raft.becomeCandidate()
        leader.raft.becomeLeader()  // term 8
        leader.raft.broadcastAppend()
        var inFlight = leader.persist() + leader.takeMessages()
        var rounds = 0
        while !inFlight.isEmpty && rounds < 100 {
            rounds += 1
            var next: [Message] = []
            for m in inFlight {
                if m.to == 2 {
                    follower.step(m)
                    next += follower.persist() + follower.takeMessages()
                } else if m.to == 1 {
                    leader.step(m)
                    next += leader.persist() + leader.takeMessages()
                }
            }
            inFlight = next.filter { $0.to == 1 || $0.to == 2 }
        }
        let expected = leaderTerms + [8]
        let got = (1...follower.raft.log.lastIndex.rawValue).map { follower.raft.log.termOrZero(at: LogIndex($0)).rawValue }
        #expect(got == expected)
    }

    // MARK: §5.4 Safety

    @Test("§5.4.1 A vote request carries the candidate's last log index and term")
    func voteRequestCarriesLastLogPosition() {
        var m = TestMember(1, voters: [1, 2, 3], logTerms: [1, 2], term: 2)
        m.node.campaign()
        let requests = m.takeMessages()
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.type == .vote && $0.index == 2 && $0.logTerm == 2 && $0.term == 3 })
    }

    @Test("§5.4.1 A voter denies its vote to a candidate whose log is less up-to-date than its own",
          arguments: [(1, 1, true), (1, 2, true), (1, 3, true), (2, 1, true), (2, 2, false), (2, 3, false), (3, 1, false), (3, 2, false), (3, 3, false)] as [(UInt64, UInt64, Bool)])
    func voterRejectsLessUpToDateCandidate(lastTerm: UInt64, lastIndex: UInt64, rejected: Bool) {
        var m = TestMember(1, voters: [1, 2, 3], logTerms: [1, 2], term: 2)
        m.step(msg(.vote, from: 2, to: 1, term: 3, logTerm: lastTerm, index: lastIndex))
        let answers = m.takeMessages()
        #expect(answers.count == 1)
        #expect(answers.first?.type == .voteResp)
        #expect(answers.first?.reject == rejected)
    }

    @Test("§5.4.2 A leader commits by counting replicas only entries of its own term",
          arguments: [(1, 0), (2, 0), (3, 3)] as [(UInt64, UInt64)])
    func leaderCountsReplicasOnlyForItsTerm(ackedIndex: UInt64, committed: UInt64) {
        var m = TestMember(1, voters: [1, 2, 3], logTerms: [1, 2], term: 2)
        m.becomeLeaderNow(acknowledgeEmptyEntry: false)  // term 3, empty entry at 3
        m.step(msg(.appResp, from: 2, to: 1, term: 3, index: ackedIndex))
        #expect(m.raft.log.committed == LogIndex(committed))
    }
}
