import EtcdProto
import Raft

/// Text forms of Raft values for scenario traces, in the spirit of etcd's `DescribeMessage`.
public enum Describe {
    public static func data(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public static func changes(_ cc: ConfChangeV2) -> String {
        var parts: [String] = []
        for c in cc.changes {
            let prefix: String
            switch c.type {
            case .addNode?: prefix = "v"
            case .addLearnerNode?: prefix = "l"
            case .removeNode?: prefix = "r"
            case .updateNode?: prefix = "u"
            case nil: prefix = "?"
            }
            parts.append(prefix + String(c.nodeID, radix: 16))
        }
        return parts.joined(separator: " ")
    }

    public static func entry(_ e: Entry) -> String {
        let body: String
        switch e.type {
        case .normal?:
            body = data(e.data)
        case .confChange?:
            body = (try? ConfChange(serializedBytes: e.data)).map { changes($0.asV2) } ?? "<bad conf change>"
        case .confChangeV2?:
            body = (try? ConfChangeV2(serializedBytes: e.data)).map { changes($0) } ?? "<bad conf change>"
        case nil:
            body = "type \(e.typeRaw)"
        }
        let typeName: String
        switch e.type {
        case .normal?: typeName = "EntryNormal"
        case .confChange?: typeName = "EntryConfChange"
        case .confChangeV2?: typeName = "EntryConfChangeV2"
        case nil: typeName = "Entry?"
        }
        return "\(e.term)/\(e.index) \(typeName)" + (body.isEmpty ? "" : " " + body)
    }

    public static func confState(_ cs: ConfState) -> String {
        func list(_ ids: [UInt64]) -> String { "(" + ids.map { String($0, radix: 16) }.joined(separator: " ") + ")" }
        var s = "Voters:\(list(cs.voters))"
        if !cs.votersOutgoing.isEmpty { s += " VotersOutgoing:\(list(cs.votersOutgoing))" }
        if !cs.learners.isEmpty { s += " Learners:\(list(cs.learners))" }
        if !cs.learnersNext.isEmpty { s += " LearnersNext:\(list(cs.learnersNext))" }
        if cs.autoLeave { s += " AutoLeave" }
        return s
    }

    public static func snapshot(_ s: Snapshot) -> String {
        "Index:\(s.metadata.index) Term:\(s.metadata.term) ConfState:\(confState(s.metadata.confState))"
    }

    public static func message(_ m: Message) -> String {
        let name = m.type?.etcdName ?? "Msg\(m.typeRaw)"
        var s = "\(String(m.from, radix: 16))->\(String(m.to, radix: 16)) \(name) Term:\(m.term) Log:\(m.logTerm)/\(m.index)"
        if m.reject { s += " Rejected (Hint: \(m.rejectHint))" }
        if m.commit != 0 { s += " Commit:\(m.commit)" }
        if !m.entries.isEmpty { s += " Entries:[" + m.entries.map(entry).joined(separator: ", ") + "]" }
        if m.snapshot.metadata.index != 0 { s += " Snapshot:{" + snapshot(m.snapshot) + "}" }
        if !m.context.isEmpty { s += " Context:" + data(m.context) }
        return s
    }

    public static func hardState(_ hs: HardState) -> String {
        "HardState Term:\(hs.term)" + (hs.vote != 0 ? " Vote:\(String(hs.vote, radix: 16))" : "") + " Commit:\(hs.commit)"
    }

    /// The lines of a Ready, as the scenario trace prints them.
    public static func ready(_ rd: Ready) -> [String] {
        var lines: [String] = []
        if let ss = rd.softState { lines.append("Lead:\(ss.leader) State:\(ss.role)") }
        if let hs = rd.hardState { lines.append(hardState(hs)) }
        if !rd.entries.isEmpty {
            lines.append("Entries:")
            lines += rd.entries.map(entry)
        }
        if let s = rd.snapshot { lines.append("Snapshot " + snapshot(s)) }
        if !rd.committedEntries.isEmpty {
            lines.append("CommittedEntries:")
            lines += rd.committedEntries.map(entry)
        }
        if !rd.messages.isEmpty {
            lines.append("Messages:")
            lines += rd.messages.map(message)
        }
        if !rd.messagesAfterPersist.isEmpty {
            lines.append("MessagesAfterPersist:")
            lines += rd.messagesAfterPersist.map(message)
        }
        if !rd.readStates.isEmpty {
            lines.append("ReadStates:")
            lines += rd.readStates.map { "index \($0.index) ctx \(data($0.requestContext))" }
        }
        return lines
    }

    public static func status(_ st: Status) -> [String] {
        var lines = ["\(st.id): \(st.role) term=\(st.term) lead=\(st.leader) commit=\(st.commit) applied=\(st.applied) last=\(st.lastIndex)"
            + (st.isLearner ? " learner" : "") + " " + confState(st.confState)]
        for id in st.progress.keys.sorted() {
            let pr = st.progress[id]!
            var s = "  \(id): \(pr.state) match=\(pr.match) next=\(pr.next)"
            if pr.isLearner { s += " learner" }
            if pr.isPaused { s += " paused" }
            if pr.pendingSnapshot > .zero { s += " pendingSnap=\(pr.pendingSnapshot)" }
            if !pr.recentActive { s += " inactive" }
            if pr.inflightMessages > 0 { s += " inflight=\(pr.inflightMessages)" }
            lines.append(s)
        }
        return lines
    }
}
