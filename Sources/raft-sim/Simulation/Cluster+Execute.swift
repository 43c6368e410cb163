import EtcdProto
import Raft

extension Cluster {
    /// Runs one command, appending it to `history` and its effects to the trace. Throws the first
    /// safety violation it causes (and keeps throwing it afterwards).
    public func execute(_ command: Command) throws(Violation) {
        if let violation { throw violation }
        history.append(command)
        if echoCommands { log("» \(command)") }
        do {
            try run(command)
        } catch {
            violation = error
            throw error
        }
    }

    /// Parses and runs a command line.
    public func execute(line: String) throws -> Void {
        try execute(try Command.parse(line))
    }

    private func running(_ id: MemberID) -> SimNode? {
        guard let node = nodes[id], node.raw != nil else {
            log("\(id) is not running")
            return nil
        }
        return node
    }

    private func run(_ command: Command) throws(Violation) {
        switch command {
        case let .addNodes(voters, learners, options):
            try apply(options: options)
            let ids = (1...(voters + learners)).map { MemberID(UInt64($0)) }
            try bootstrap(voters: Array(ids.prefix(voters)), learners: Array(ids.dropFirst(voters)))
            for id in ids { log("\(id): voters=\(Describe.confState(nodes[id]!.confState))") }

        case let .addNode(id):
            try addEmptyNode(id)
            log("\(id) added with empty storage")

        case let .campaign(id):
            guard let node = running(id) else { return }
            node.raw!.campaign()
            try afterChange(node)

        case let .tick(id, count):
            guard let node = running(id) else { return }
            for _ in 0..<count {
                node.raw!.tick()
                try afterChange(node)
            }

        case let .tickAll(count):
            for _ in 0..<count {
                for id in sortedIDs {
                    guard let node = nodes[id], node.raw != nil else { continue }
                    node.raw!.tick()
                    try afterChange(node)
                }
            }

        case let .propose(id, datas):
            guard let node = running(id) else { return }
            do {
                if datas.count == 1 {
                    try node.raw!.propose(Array(datas[0].utf8))
                } else {
                    try node.raw!.propose(datas.map { Array($0.utf8) })
                }
            } catch {
                log("\(id) proposal refused: \(error)")
            }

        case let .proposeConfChange(id, transition, v1, changes):
            guard let node = running(id) else { return }
            var singles: [ConfChangeSingle] = []
            for token in changes {
                guard let kind = token.first, let nodeID = UInt64(token.dropFirst(), radix: 16) else {
                    log("bad change '\(token)'")
                    return
                }
                let type: ConfChangeType
                switch kind {
                case "v": type = .addNode
                case "l": type = .addLearnerNode
                case "r": type = .removeNode
                case "u": type = .updateNode
                default:
                    log("bad change '\(token)'")
                    return
                }
                singles.append(ConfChangeSingle(type: type, nodeID: nodeID))
            }
            do {
                if v1 {
                    guard singles.count == 1 else {
                        log("format=v1 takes exactly one change")
                        return
                    }
                    try node.raw!.proposeConfChange(ConfChange(type: singles[0].type!, nodeID: singles[0].nodeID))
                } else {
                    let t: ConfChangeTransition
                    switch transition {
                    case .auto: t = .auto
                    case .implicit: t = .jointImplicit
                    case .explicit: t = .jointExplicit
                    }
                    try node.raw!.proposeConfChange(ConfChangeV2(transition: t, changes: singles))
                }
            } catch {
                log("\(id) conf change refused: \(error)")
            }

        case let .readIndex(id, context):
            guard let node = running(id) else { return }
            checker.readIssued(context: Array(context.utf8))
            do {
                try node.raw!.readIndex(context: Array(context.utf8))
            } catch {
                log("\(id) read index refused: \(error)")
            }

        case let .transferLeader(id, to):
            guard let node = running(id) else { return }
            do {
                try node.raw!.transferLeader(to: to)
            } catch {
                log("\(id) transfer refused: \(error)")
            }

        case let .ready(id):
            guard running(id) != nil else { return }
            try processReady(id)

        case let .readyStart(id):
            guard running(id) != nil else { return }
            startReady(id)

        case let .readyFinish(id):
            guard running(id) != nil else { return }
            try finishReady(id)

        case let .deliver(from, to, position, duplicate):
            try deliver(Link(from: from, to: to), position: position, duplicate: duplicate)

        case let .deliverTo(id):
            try deliverAll(to: id)

        case let .drop(from, to, position):
            drop(Link(from: from, to: to), position: position)

        case let .stabilize(ids):
            try stabilize(ids.isEmpty ? sortedIDs : ids)

        case let .partition(groups):
            partition(groups)
            log("partitioned: " + groups.map { $0.map(\.description).joined(separator: " ") }.joined(separator: " / "))

        case .heal:
            heal()
            log("healed")

        case let .crash(id):
            crash(id)

        case let .crashDuringReady(id):
            guard running(id) != nil else { return }
            startReady(id)
            crash(id)

        case let .restart(id):
            try restart(id)

        case let .compact(id, keep):
            compact(id, keep: keep)

        case let .reportUnreachable(id, peer):
            guard let node = running(id) else { return }
            node.raw!.reportUnreachable(peer)

        case let .reportSnapshot(id, peer, ok):
            guard let node = running(id) else { return }
            node.raw!.reportSnapshot(peer, status: ok ? .finished : .failed)

        case let .corrupt(id, index):
            guard let node = nodes[id] else { return }
            let at = LogIndex(index)
            let storage = node.storage
            guard at >= storage.firstIndex(), at <= storage.lastIndex(),
                  var tail = try? storage.entries(from: at, to: storage.lastIndex() + 1, maxSizeBytes: .max)
            else { return }
            tail[0].data = Array("corrupted".utf8)
            storage.append(tail)
            log("\(id) entry \(index) corrupted on disk")

        case .checkLiveness:
            try checkLiveness()

        case let .status(id):
            guard let node = running(id) else { return }
            for line in Describe.status(node.raw!.status) { log(line) }

        case let .log(id):
            guard let node = nodes[id] else { return }
            let storage = node.storage
            let first = storage.firstIndex()
            let last = storage.lastIndex()
            if storage.currentSnapshot.metadata.index > 0 {
                log("snapshot " + Describe.snapshot(storage.currentSnapshot))
            }
            if first > last {
                log("log is empty: first index=\(first), last index=\(last)")
            } else if let entries = try? storage.entries(from: first, to: last + 1, maxSizeBytes: .max) {
                for e in entries { log(Describe.entry(e)) }
            }
        }
    }

    private func apply(options: [String: String]) throws(Violation) {
        for (key, value) in options {
            func number() throws(Violation) -> UInt64 {
                guard let v = UInt64(value) else { throw Violation(kind: .internalError, detail: "bad value for \(key)") }
                return v
            }
            switch key {
            case "seed": seed = try number()
            case "prevote": settings.preVote = value == "true"
            case "checkquorum": settings.checkQuorum = value == "true"
            case "election": settings.electionTicks = Int(try number())
            case "heartbeat": settings.heartbeatTicks = Int(try number())
            case "inflight": settings.maxInflightMessages = Int(try number())
            case "max-msg-bytes": settings.maxSizePerMessageBytes = try number()
            case "max-uncommitted-bytes": settings.maxUncommittedEntriesBytes = try number()
            case "max-committed-per-ready": settings.maxCommittedSizePerReadyBytes = try number()
            default: throw Violation(kind: .internalError, detail: "unknown option \(key)")
            }
        }
    }

    /// The running member that leads the highest term, if any.
    var currentLeader: MemberID? {
        var best: (MemberID, Term)?
        for id in sortedIDs {
            guard let raw = nodes[id]!.raw, raw.role == .leader else { continue }
            if best == nil || raw.term > best!.1 { best = (id, raw.term) }
        }
        return best?.0
    }

    /// Heals, restarts everyone, and lets time pass with a perfect network: a leader must commit
    /// a marker entry and every member of its configuration must apply it.
    func checkLiveness() throws(Violation) {
        heal()
        for id in sortedIDs where nodes[id]!.raw == nil { try restart(id) }
        var marker = 0
        var proposedAt = -100
        for round in 0..<150 {
            try stabilize(sortedIDs)
            if let l = currentLeader {
                let raw = nodes[l]!.raw!
                let cs = raw.confState
                // Every member of its configuration that exists (a conf change may name a member
                // that was never started) must apply the marker.
                let members = (cs.voters + cs.learners + cs.votersOutgoing + cs.learnersNext).map { MemberID($0) }
                    .filter { nodes[$0] != nil }
                if marker > 0 && members.allSatisfy({ nodes[$0]?.lastApplied == "final\(marker)" }) {
                    log("live: \(l) leads term \(raw.term); every member applied final\(marker)")
                    return
                }
                if round - proposedAt > 30 {
                    marker += 1
                    proposedAt = round
                    do {
                        try nodes[l]!.raw!.propose(Array("final\(marker)".utf8))
                    } catch {
                        log("\(l) refused final\(marker): \(error)")
                    }
                    continue
                }
            }
            for id in sortedIDs where nodes[id]!.raw != nil {
                nodes[id]!.raw!.tick()
                try afterChange(nodes[id]!)
            }
        }
        var states: [String] = []
        for id in sortedIDs {
            guard let raw = nodes[id]!.raw else { continue }
            let st = raw.status
            states.append("\(id): \(st.role) term \(st.term) lead \(st.leader) commit \(st.commit) applied \(st.applied) last \(st.lastIndex) \(Describe.confState(st.confState)) last applied \(nodes[id]!.lastApplied)")
        }
        throw Violation(kind: .liveness, detail: "no leader committed and applied a final entry on every member within 150 rounds after healing; " + states.joined(separator: "; "))
    }

    /// Delivers every message queued to `id` right now, link by link.
    func deliverAll(to id: MemberID, from senders: Set<MemberID>? = nil) throws(Violation) {
        let links = pendingLinks.filter { $0.to == id && (senders?.contains($0.from) ?? true) }
        guard !links.isEmpty else { return }
        log("> \(id) receiving messages")
        let saved = indentation
        indentation += "  "
        defer { indentation = saved }
        for link in links {
            let count = queues[link]?.count ?? 0
            for _ in 0..<count { try deliver(link) }
        }
    }

    /// Processes Readies and delivers messages among `ids` until nothing changes (or, for a
    /// group that keeps talking without end, a bounded amount of work is done).
    func stabilize(_ ids: [MemberID]) throws(Violation) {
        let members = Set(ids)
        let deliveredAtStart = deliveredCount
        for _ in 0..<1_000 {
            var progressed = false
            for id in ids {
                guard let node = nodes[id], node.raw != nil, node.pendingReady != nil || node.raw!.hasReady else { continue }
                try processReady(id)
                progressed = true
            }
            for id in ids {
                let links = pendingLinks.filter { $0.to == id && members.contains($0.from) }
                if links.isEmpty { continue }
                progressed = true
                try deliverAll(to: id, from: members)
            }
            if !progressed || deliveredCount - deliveredAtStart > 20_000 { return }
        }
    }
}
