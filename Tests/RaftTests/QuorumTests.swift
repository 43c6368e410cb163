import Testing
@testable import Raft

/// The quorum math, checked against a dumb reference on random input (as etcd's quick tests do).
@Suite("Quorum") struct QuorumTests {
    /// The reference: the largest index acknowledged by a majority, by trying every candidate.
    static func referenceCommitted(_ voters: [MemberID], _ acked: [MemberID: LogIndex]) -> LogIndex {
        if voters.isEmpty { return .infinity }
        var best = LogIndex.zero
        for candidate in voters.map({ acked[$0] ?? .zero }) {
            let count = voters.filter { (acked[$0] ?? .zero) >= candidate }.count
            if count > voters.count / 2 && candidate > best { best = candidate }
        }
        return best
    }

    @Test("A majority's committed index matches the reference on random configurations")
    func majorityCommittedIndexMatchesReference() {
        var random = SeededRandom(seed: 99)
        for _ in 0..<5000 {
            let n = random.below(10)
            let voters = (0..<n).map { MemberID(UInt64($0 + 1)) }
            var acked: [MemberID: LogIndex] = [:]
            for v in voters where random.below(5) > 0 { acked[v] = LogIndex(UInt64(random.below(8))) }
            let config = MajorityConfig(voters)
            #expect(config.committedIndex { acked[$0] } == Self.referenceCommitted(voters, acked))
        }
    }

    @Test("A joint configuration commits what both halves commit")
    func jointCommittedIndex() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let a = (0..<random.below(6)).map { MemberID(UInt64($0 + 1)) }
            let b = (0..<random.below(6)).map { MemberID(UInt64($0 + 3)) }
            var acked: [MemberID: LogIndex] = [:]
            for v in a + b { acked[v] = LogIndex(UInt64(random.below(8))) }
            let joint = JointConfig(incoming: MajorityConfig(a), outgoing: MajorityConfig(b))
            let expected = Swift.min(Self.referenceCommitted(Array(Set(a)), acked), Self.referenceCommitted(Array(Set(b)), acked))
            #expect(joint.committedIndex { acked[$0] } == expected)
        }
    }

    @Test("An empty configuration agrees to everything")
    func emptyConfig() {
        #expect(MajorityConfig().committedIndex { _ in nil } == .infinity)
        #expect(MajorityConfig().voteResult { _ in nil } == .won)
    }

    @Test("Vote results: won with a majority, lost when a majority can no longer be reached, pending otherwise",
          arguments: [
            ([true, true, nil], VoteResult.won), ([true, nil, nil], .pending), ([true, false, nil], .pending),
            ([false, false, nil], .lost), ([true, true, false, false, nil], .pending), ([true, false, false, false, nil], .lost),
          ] as [([Bool?], VoteResult)])
    func voteResults(votes: [Bool?], result: VoteResult) {
        let ids = votes.indices.map { MemberID(UInt64($0 + 1)) }
        let config = MajorityConfig(ids)
        #expect(config.voteResult { votes[Int($0.rawValue) - 1] } == result)
    }

    @Test("A joint vote is lost if either half loses, won only if both win")
    func jointVotes() {
        let joint = JointConfig(incoming: MajorityConfig([1, 2, 3].map { MemberID($0) }), outgoing: MajorityConfig([3, 4, 5].map { MemberID($0) }))
        #expect(joint.voteResult { [1: true, 2: true, 3: true, 4: false, 5: false][$0.rawValue] } == .lost)
        #expect(joint.voteResult { [1: true, 2: true, 3: true, 4: true][$0.rawValue] } == .won)
        #expect(joint.voteResult { [1: true, 2: true, 3: true][$0.rawValue] } == .pending)
    }
}
