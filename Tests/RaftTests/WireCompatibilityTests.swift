import EtcdProto
import Testing

/// raftpb encodings checked byte for byte against etcd 3.4.23's own (gogoproto) marshaller. The
/// expected bytes were produced by etcd's `raft/raftpb/raft.pb.go` `Marshal` for the same values.
@Suite("raftpb wire compatibility") struct WireCompatibilityTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test("MsgApp encodes as etcd encodes it, and decodes back")
    func msgApp() throws {
        let m = Message(type: .app, to: 2, from: 1, term: 5, logTerm: 4, index: 10,
                        entries: [Entry(term: 5, index: 11, data: Array("x".utf8))], commit: 9)
        let etcd = Self.bytes("08031002180120052804300a3a0908001005180b22017840094a0a12080a0228001000180050005800")
        #expect(m.serializedBytes() == etcd)
        #expect(try Message(serializedBytes: etcd) == m)
    }

    @Test("MsgSnap with a joint ConfState, rejection and context encodes as etcd encodes it")
    func msgSnap() throws {
        var cs = ConfState()
        cs.voters = [1, 2, 3]
        cs.learners = [4]
        cs.votersOutgoing = [1, 2, 5]
        cs.learnersNext = [5]
        cs.autoLeave = true
        let snap = Snapshot(data: Array("db".utf8), metadata: SnapshotMetadata(confState: cs, index: 100, term: 6))
        let m = Message(type: .snap, to: 3, from: 1, term: 7, snapshot: snap, reject: true, rejectHint: 300,
                        context: Array("ctx".utf8))
        let etcd = Self.bytes("08071003180120072800300040004a1e0a02646212180a1208010802080310041801180218052005280110641806500158ac026203637478")
        #expect(m.serializedBytes() == etcd)
        #expect(try Message(serializedBytes: etcd) == m)
    }

    @Test("ConfChange (v1, as etcd 3.4's server proposes it) encodes as etcd encodes it")
    func confChange() throws {
        let cc = ConfChange(type: .addLearnerNode, nodeID: 0x8e9e_05c5_2164_694d, context: Array("peer".utf8), id: 77)
        let etcd = Self.bytes("084d100318cdd2918bd2b881cf8e01220470656572")
        #expect(cc.serializedBytes() == etcd)
        #expect(try ConfChange(serializedBytes: etcd) == cc)
    }

    @Test("ConfChangeV2 encodes as etcd encodes it")
    func confChangeV2() throws {
        let cc = ConfChangeV2(transition: .jointExplicit,
                              changes: [ConfChangeSingle(type: .addNode, nodeID: 4), ConfChangeSingle(type: .removeNode, nodeID: 1)],
                              context: Array("c".utf8))
        let etcd = Self.bytes("08021204080010041204080110011a0163")
        #expect(cc.serializedBytes() == etcd)
        #expect(try ConfChangeV2(serializedBytes: etcd) == cc)
        #expect(cc.kind == .enterJoint(autoLeave: false))
    }

    @Test("HardState encodes as etcd encodes it; Entry.encodedSize is etcd's Entry.Size()")
    func hardStateAndEntrySize() {
        let hs = HardState(term: 3, vote: 2, commit: 1000)
        let etcd = Self.bytes("0803100218e807")
        #expect(hs.serializedBytes() == etcd)
        let e = Entry(term: 2, index: 300, type: .confChangeV2, data: etcd)
        #expect(e.encodedSize == 16)
        #expect(e.encodedSize == e.serializedBytes().count)
    }

    @Test("Entry.encodedSize matches the encoding for many shapes")
    func entrySizes() {
        for term in [0, 1, 127, 128, 1 << 20, UInt64.max] as [UInt64] {
            for count in [0, 1, 127, 128, 20000] {
                let e = Entry(term: term, index: term &* 3, data: [UInt8](repeating: 7, count: count))
                #expect(e.encodedSize == e.serializedBytes().count)
            }
        }
    }

    @Test("Every message type's raw value is etcd's")
    func messageTypeValues() {
        let names = MessageType.allCases.map(\.etcdName)
        #expect(names == ["MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp", "MsgSnap",
                          "MsgHeartbeat", "MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum",
                          "MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp", "MsgPreVote", "MsgPreVoteResp"])
        #expect(MessageType.allCases.map(\.rawValue) == Array(0...18))
    }

    @Test("An unknown message type survives a round trip")
    func unknownType() throws {
        var m = Message()
        m.typeRaw = 42
        m.term = 1
        let back = try Message(serializedBytes: m.serializedBytes())
        #expect(back.typeRaw == 42)
        #expect(back.type == nil)
    }

    @Test("The empty ConfChangeV2 leaves a joint configuration; one change is simple; two are joint")
    func confChangeKinds() {
        #expect(ConfChangeV2().kind == .leaveJoint)
        #expect(ConfChangeV2(changes: [], context: [1]).kind == .leaveJoint)
        #expect(ConfChangeV2(changes: [ConfChangeSingle(type: .addNode, nodeID: 2)]).kind == .simple)
        #expect(ConfChangeV2(transition: .jointImplicit, changes: [ConfChangeSingle(type: .addNode, nodeID: 2)]).kind == .enterJoint(autoLeave: true))
        #expect(ConfChangeV2(changes: [ConfChangeSingle(type: .addNode, nodeID: 2), ConfChangeSingle(type: .removeNode, nodeID: 1)]).kind
                == .enterJoint(autoLeave: true))
    }
}
