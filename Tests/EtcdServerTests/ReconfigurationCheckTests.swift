import Testing

@testable import EtcdServer

/// etcd's checks before a membership change (`mayAddMember`, `mayRemoveMember`,
/// `mayPromoteMember`, `isLearnerReady`) and the join-time ID assignment, on plain values.
@Suite struct ReconfigurationCheckTests {
    static let second: Int64 = 1_000_000_000

    static func membership(_ members: [(UInt64, started: Bool, learner: Bool)]) -> Membership {
        var m = Membership()
        for (id, started, learner) in members {
            m.members[id] = MemberRecord(id: id, peerURLs: ["http://127.0.0.1:\(2380 + Int(id))"], isLearner: learner,
                                         name: started ? "m\(id)" : "")
        }
        return m
    }

    @Test func addingAVoterNeedsAQuorumOfStartedVotersExceptTheSecondMember() {
        // One started member may get a second (restoring a cluster from one member's data).
        #expect(ReconfigurationCheck.readyToAddVoter(Self.membership([(1, true, false)])))
        // 1 started of 2 voters, 3 with the new one: a quorum needs 2.
        #expect(!ReconfigurationCheck.readyToAddVoter(Self.membership([(1, true, false), (2, false, false)])))
        #expect(ReconfigurationCheck.readyToAddVoter(Self.membership([(1, true, false), (2, true, false)])))
        // Learners do not count.
        #expect(!ReconfigurationCheck.readyToAddVoter(Self.membership([(1, true, false), (2, false, false), (3, true, true)])))
    }

    @Test func removingAVoterKeepsAQuorumOfStartedVoters() {
        let m = Self.membership([(1, true, false), (2, true, false), (3, false, false)])
        #expect(ReconfigurationCheck.readyToRemoveVoter(3, m))
        // Left: 1 and 3, one started: no quorum of two.
        #expect(!ReconfigurationCheck.readyToRemoveVoter(2, m))
    }

    @Test func aLearnerIsPromotedOnceItsLogReachesNinetyPercentOfTheLeaders() {
        #expect(!ReconfigurationCheck.learnerReady(learnerMatch: 0, leaderMatch: 10))
        #expect(!ReconfigurationCheck.learnerReady(learnerMatch: 89, leaderMatch: 100))
        #expect(ReconfigurationCheck.learnerReady(learnerMatch: 90, leaderMatch: 100))
        // Unknown to raft: left to the apply-time check.
        #expect(ReconfigurationCheck.learnerReady(learnerMatch: nil, leaderMatch: 100))
        #expect(ReconfigurationCheck.readyToPromote(Self.membership([(1, true, false), (2, false, true)])))
        #expect(!ReconfigurationCheck.readyToPromote(Self.membership([(1, true, false), (2, false, false), (3, false, false), (4, false, true)])))
    }

    @Test func aMemberMustHaveBeenConnectedToEveryVoterForTheHealthInterval() {
        let m = Self.membership([(1, true, false), (2, true, false), (3, true, false)])
        let now = 100 * Self.second
        let connectedLongAgo: ReconfigurationCheck.ActiveSince = { _ in now - 6 * Self.second }
        let justConnected: ReconfigurationCheck.ActiveSince = { id in id == 3 ? now - Self.second : now - 6 * Self.second }
        let oneDown: ReconfigurationCheck.ActiveSince = { id in id == 3 ? nil : now - 6 * Self.second }
        #expect(ReconfigurationCheck.mayAdd(isLearner: false, m, selfID: 1, now: now, activeSince: connectedLongAgo) == nil)
        #expect(ReconfigurationCheck.mayAdd(isLearner: false, m, selfID: 1, now: now, activeSince: justConnected) == .unhealthy)
        #expect(ReconfigurationCheck.mayAdd(isLearner: true, m, selfID: 1, now: now, activeSince: oneDown) == .unhealthy)
        // A member that is down may go; removing a live one while another is down would leave
        // the active members without a quorum.
        #expect(ReconfigurationCheck.mayRemove(3, m, selfID: 1, now: now, activeSince: oneDown) == nil)
        #expect(ReconfigurationCheck.mayRemove(2, m, selfID: 1, now: now, activeSince: oneDown) == .unhealthy)
        #expect(ReconfigurationCheck.mayRemove(2, m, selfID: 1, now: now, activeSince: connectedLongAgo) == nil)
        // A learner may always go.
        let withLearner = Self.membership([(1, true, false), (2, false, true)])
        #expect(ReconfigurationCheck.mayRemove(2, withLearner, selfID: 1, now: now, activeSince: { _ in nil }) == nil)
    }

    @Test func aJoiningMemberTakesTheIDTheClusterGaveItsPeerURLs() throws {
        let local = [
            MemberRecord(id: 11, peerURLs: ["http://a:2380"], name: "a"),
            MemberRecord(id: 12, peerURLs: ["http://b:2380", "http://b2:2380"], name: "b"),
        ]
        let existing = [
            MemberRecord(id: 0xaaa, peerURLs: ["http://a:2380"], name: "a"),
            MemberRecord(id: 0xbbb, peerURLs: ["http://b2:2380", "http://b:2380"]),
        ]
        #expect(try ClusterJoin.assignIDs(local: local, existing: existing, name: "b", clusterID: 7) == 0xbbb)
        #expect(throws: ClusterJoin.Failure.self) {
            try ClusterJoin.assignIDs(local: Array(local.prefix(1)), existing: existing, name: "a", clusterID: 7)
        }
        let moved = [existing[0], MemberRecord(id: 0xbbb, peerURLs: ["http://c:2380"])]
        do {
            _ = try ClusterJoin.assignIDs(local: local, existing: moved, name: "b", clusterID: 7)
            Issue.record("a member whose URLs match none of --initial-cluster was accepted")
        } catch {
            #expect(error.description.contains("PeerURLs: no match found for existing member (bbb, [\"http://c:2380\"])"))
        }
    }

    @Test func addedMembersGetEtcdsTimeBasedIDsFromSortedPeerURLs() {
        let a = ServerIdentity.addedMemberID(peerURLs: ["http://127.0.0.1:2380"], unixSeconds: 1_700_000_000)
        #expect(a == ServerIdentity.memberID(peerURLs: ["http://127.0.0.1:2380"], clusterToken: "1700000000"))
        #expect(a != ServerIdentity.addedMemberID(peerURLs: ["http://127.0.0.1:2380"], unixSeconds: 1_700_000_001))
        #expect(MemberService.peerURLs([" http://b:1", "http://a:1"]) == ["http://a:1", "http://b:1"])
        #expect(MemberService.peerURLs([]) == nil)
        #expect(MemberService.peerURLs(["http://a:1/path"]) == nil)
        #expect(MemberService.peerURLs(["ftp://a:1"]) == nil)
        #expect(MemberService.peerURLs(["http://a"]) == nil)
    }
}
