import EtcdProto
import Testing
@testable import Raft

@Suite("Configuration changes") struct ConfChangerTests {
    static func tracker(voters: [UInt64], learners: [UInt64] = []) throws -> ProgressTracker {
        var cs = ConfState()
        cs.voters = voters
        cs.learners = learners
        let t = ProgressTracker(maxInflight: 4)
        let outcome = try ConfChanger.restore(cs, tracker: t, lastIndex: LogIndex(10))
        var result = t
        result.replace(config: outcome.config, progress: outcome.progress)
        return result
    }

    static func apply(_ t: inout ProgressTracker, _ outcome: ConfChanger.Outcome) {
        t.replace(config: outcome.config, progress: outcome.progress)
    }

    static func changes(_ s: String) -> [ConfChangeSingle] {
        s.split(separator: " ").map { tok in
            let id = UInt64(tok.dropFirst())!
            switch tok.first {
            case "v": return ConfChangeSingle(type: .addNode, nodeID: id)
            case "l": return ConfChangeSingle(type: .addLearnerNode, nodeID: id)
            case "r": return ConfChangeSingle(type: .removeNode, nodeID: id)
            default: return ConfChangeSingle(type: .updateNode, nodeID: id)
            }
        }
    }

    @Test("The simple protocol adds and removes one voter at a time, and moves learners freely")
    func simpleChanges() throws {
        var t = try Self.tracker(voters: [1, 2, 3])
        Self.apply(&t, try ConfChanger(tracker: t, lastIndex: LogIndex(10)).simple(Self.changes("v4")))
        #expect(t.confState.voters == [1, 2, 3, 4])
        #expect(t.progress[MemberID(4)]?.next == LogIndex(10))
        Self.apply(&t, try ConfChanger(tracker: t, lastIndex: LogIndex(10)).simple(Self.changes("l5 l6")))
        #expect(t.confState.learners == [5, 6])
        Self.apply(&t, try ConfChanger(tracker: t, lastIndex: LogIndex(10)).simple(Self.changes("r4")))
        #expect(t.confState.voters == [1, 2, 3])
        #expect(throws: ConfChangeError.moreThanOneVoterChanged) {
            try ConfChanger(tracker: t, lastIndex: LogIndex(10)).simple(Self.changes("v5 v6"))
        }
        #expect(throws: ConfChangeError.removedAllVoters) {
            _ = try Self.tracker(voters: [1]).replacingWith { try ConfChanger(tracker: $0, lastIndex: .zero).simple(Self.changes("r1")) }
        }
    }

    @Test("Joint consensus: old and new voter sets both decide until the joint config is left")
    func jointChanges() throws {
        var t = try Self.tracker(voters: [1, 2, 3])
        Self.apply(&t, try ConfChanger(tracker: t, lastIndex: LogIndex(10)).enterJoint(autoLeave: true, Self.changes("v4 r3 l3")))
        #expect(t.confState.voters == [1, 2, 4])
        #expect(t.confState.votersOutgoing == [1, 2, 3])
        #expect(t.confState.learnersNext == [3])  // 3 becomes a learner when the old half goes
        #expect(t.confState.autoLeave)
        #expect(throws: ConfChangeError.alreadyJoint) { try ConfChanger(tracker: t, lastIndex: LogIndex(10)).enterJoint(autoLeave: false, []) }
        #expect(throws: ConfChangeError.simpleChangeInJoint) { try ConfChanger(tracker: t, lastIndex: LogIndex(10)).simple(Self.changes("v5")) }
        Self.apply(&t, try ConfChanger(tracker: t, lastIndex: LogIndex(10)).leaveJoint())
        #expect(t.confState.voters == [1, 2, 4])
        #expect(t.confState.votersOutgoing.isEmpty)
        #expect(t.confState.learners == [3])
        #expect(!t.confState.autoLeave)
        #expect(throws: ConfChangeError.notJoint) { try ConfChanger(tracker: t, lastIndex: LogIndex(10)).leaveJoint() }
    }

    @Test("Restoring any ConfState a change sequence produced gives back the same configuration")
    func restoreRoundTrips() throws {
        var random = SeededRandom(seed: 3)
        for _ in 0..<300 {
            var t = try Self.tracker(voters: [1, 2, 3])
            for _ in 0..<6 {
                let ops = (0..<(1 + random.below(3))).map { _ in
                    ConfChangeSingle(type: [.addNode, .addLearnerNode, .removeNode][random.below(3)], nodeID: UInt64(1 + random.below(6)))
                }
                let changer = ConfChanger(tracker: t, lastIndex: LogIndex(10))
                let outcome: ConfChanger.Outcome?
                if t.config.voters.isJoint {
                    outcome = try? changer.leaveJoint()
                } else if random.below(2) == 0 {
                    outcome = try? changer.enterJoint(autoLeave: random.below(2) == 0, ops)
                } else {
                    outcome = try? changer.simple(Array(ops.prefix(1)))
                }
                if let outcome { Self.apply(&t, outcome) }
                let cs = t.confState
                let restored = try ConfChanger.restore(cs, tracker: ProgressTracker(maxInflight: 4), lastIndex: LogIndex(10))
                #expect(restored.config.confState.isEquivalent(to: cs), "\(cs)")
            }
        }
    }
}

extension ProgressTracker {
    func replacingWith(_ body: (ProgressTracker) throws -> ConfChanger.Outcome) throws -> ProgressTracker {
        var t = self
        let o = try body(self)
        t.replace(config: o.config, progress: o.progress)
        return t
    }
}
