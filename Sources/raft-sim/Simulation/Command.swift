import Raft

/// One step of a scenario or a simulation, with its text form (`description`), which `parse`
/// reads back. Scenario files are sequences of these; a simulation's trace is one too, so a
/// shrunk failing trace can be pasted into a scenario file.
public enum Command: Equatable, Sendable, CustomStringConvertible {
    /// `add-nodes 3 [learners=1] [seed=7] [prevote=true] [checkquorum=true] [election=10]
    /// [heartbeat=1] [inflight=256] [max-msg-bytes=N] [max-uncommitted-bytes=N]
    /// [max-committed-per-ready=N]`: members 1…n (voters), then learners, bootstrapped with a
    /// snapshot at index 1 (term 1) listing them.
    case addNodes(voters: Int, learners: Int, options: [String: String])
    /// `add-node 4`: a new member with empty storage (to be added by a conf change).
    case addNode(MemberID)
    /// `campaign 1`
    case campaign(MemberID)
    /// `tick 1 [n]`
    case tick(MemberID, count: Int)
    /// `tick-all [n]`: every running member ticks n times.
    case tickAll(count: Int)
    /// `propose 1 data…`: one proposal of one entry per word (a batch when several).
    case propose(MemberID, [String])
    /// `propose-conf-change 1 [transition=auto|implicit|explicit] [format=v1] v4 l5 r2 u3`; no
    /// operations leaves a joint configuration.
    case proposeConfChange(MemberID, transition: ConfChangeTransitionName, v1: Bool, changes: [String])
    /// `read-index 1 ctx`
    case readIndex(MemberID, context: String)
    /// `transfer-leader 1 3`: ask leader 1 to hand over to 3.
    case transferLeader(MemberID, to: MemberID)
    /// `ready 1`: process one Ready of member 1 (finish the pending one, if `ready-start` left one).
    case ready(MemberID)
    /// `ready-start 1`: take a Ready and send its `messages`, leaving the persist for later (an
    /// asynchronous write; other commands may reach the member meanwhile).
    case readyStart(MemberID)
    /// `ready-finish 1`: persist the pending Ready, send `messagesAfterPersist`, apply, advance.
    case readyFinish(MemberID)
    /// `deliver 1->2 [#k] [dup]`: deliver the first (or k-th, from 1) message on the link;
    /// `dup` leaves it queued too.
    case deliver(from: MemberID, to: MemberID, position: Int, duplicate: Bool)
    /// `deliver-to 2`: every message queued to 2 now.
    case deliverTo(MemberID)
    /// `drop 1->2 [#k]`
    case drop(from: MemberID, to: MemberID, position: Int)
    /// `stabilize [ids…]`: process Readies and deliver messages (among `ids`, or all) until
    /// nothing is left to do.
    case stabilize([MemberID])
    /// `partition 1 2 / 3`: cut links between the groups (in-flight messages on them are lost).
    case partition([[MemberID]])
    /// `heal`
    case heal
    /// `crash 2`: lose everything not persisted and the messages in flight to the member.
    case crash(MemberID)
    /// `crash-during-ready 2`: take a Ready, send its `messages`, and crash before its persist
    /// completes (nothing of it is written; `messagesAfterPersist` are never sent).
    case crashDuringReady(MemberID)
    /// `restart 2`: start again from storage.
    case restart(MemberID)
    /// `compact 1 [keep=k]`: snapshot at the applied index and compact the log, keeping k entries.
    case compact(MemberID, keep: UInt64)
    /// `report-unreachable 1 2`
    case reportUnreachable(MemberID, peer: MemberID)
    /// `report-snapshot 1 2 ok|failed`
    case reportSnapshot(MemberID, peer: MemberID, ok: Bool)
    /// `corrupt 2 5`: flip the data of the entry at index 5 in member 2's storage (a disk fault;
    /// used to check that the checker notices, never by the random simulator).
    case corrupt(MemberID, index: UInt64)
    /// `check-liveness`: heal, restart every crashed member, then require a leader to commit
    /// and apply a new entry on every member of its configuration within a bounded time.
    case checkLiveness
    /// `status 1`
    case status(MemberID)
    /// `log 1`: the member's persisted log.
    case log(MemberID)

    public enum ConfChangeTransitionName: String, Sendable {
        case auto, implicit, explicit
    }

    public var description: String {
        func id(_ m: MemberID) -> String { m.description }
        switch self {
        case let .addNodes(voters, learners, options):
            var s = "add-nodes \(voters)"
            if learners > 0 { s += " learners=\(learners)" }
            for key in options.keys.sorted() { s += " \(key)=\(options[key]!)" }
            return s
        case let .addNode(m): return "add-node \(id(m))"
        case let .campaign(m): return "campaign \(id(m))"
        case let .tick(m, count): return count == 1 ? "tick \(id(m))" : "tick \(id(m)) \(count)"
        case let .tickAll(count): return count == 1 ? "tick-all" : "tick-all \(count)"
        case let .propose(m, datas): return "propose \(id(m)) " + datas.joined(separator: " ")
        case let .proposeConfChange(m, transition, v1, changes):
            var s = "propose-conf-change \(id(m))"
            if transition != .auto { s += " transition=\(transition.rawValue)" }
            if v1 { s += " format=v1" }
            if !changes.isEmpty { s += " " + changes.joined(separator: " ") }
            return s
        case let .readIndex(m, context): return "read-index \(id(m)) \(context)"
        case let .transferLeader(m, to): return "transfer-leader \(id(m)) \(id(to))"
        case let .ready(m): return "ready \(id(m))"
        case let .readyStart(m): return "ready-start \(id(m))"
        case let .readyFinish(m): return "ready-finish \(id(m))"
        case let .deliver(from, to, position, duplicate):
            return "deliver \(id(from))->\(id(to))" + (position > 0 ? " #\(position + 1)" : "") + (duplicate ? " dup" : "")
        case let .deliverTo(m): return "deliver-to \(id(m))"
        case let .drop(from, to, position): return "drop \(id(from))->\(id(to))" + (position > 0 ? " #\(position + 1)" : "")
        case let .stabilize(ids): return ids.isEmpty ? "stabilize" : "stabilize " + ids.map(id).joined(separator: " ")
        case let .partition(groups): return "partition " + groups.map { $0.map(id).joined(separator: " ") }.joined(separator: " / ")
        case .heal: return "heal"
        case let .crash(m): return "crash \(id(m))"
        case let .crashDuringReady(m): return "crash-during-ready \(id(m))"
        case let .restart(m): return "restart \(id(m))"
        case let .compact(m, keep): return keep == 0 ? "compact \(id(m))" : "compact \(id(m)) keep=\(keep)"
        case let .reportUnreachable(m, peer): return "report-unreachable \(id(m)) \(id(peer))"
        case let .reportSnapshot(m, peer, ok): return "report-snapshot \(id(m)) \(id(peer)) \(ok ? "ok" : "failed")"
        case let .corrupt(m, index): return "corrupt \(id(m)) \(index)"
        case .checkLiveness: return "check-liveness"
        case let .status(m): return "status \(id(m))"
        case let .log(m): return "log \(id(m))"
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: String
        public var reason: String
        public var description: String { "cannot parse '\(line)': \(reason)" }
    }

    /// Reads a command line (as `description` writes it).
    public static func parse(_ line: String) throws(ParseError) -> Command {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let name = words.first else { throw ParseError(line: line, reason: "empty") }
        let args = Array(words.dropFirst())
        func fail(_ why: String) -> ParseError { ParseError(line: line, reason: why) }
        func member(_ s: String) throws(ParseError) -> MemberID {
            guard let v = UInt64(s, radix: 16), v != 0 else { throw fail("bad member id '\(s)'") }
            return MemberID(v)
        }
        func arg(_ i: Int) throws(ParseError) -> String {
            guard i < args.count else { throw fail("missing argument \(i + 1)") }
            return args[i]
        }
        func int(_ s: String) throws(ParseError) -> Int {
            guard let v = Int(s) else { throw fail("bad number '\(s)'") }
            return v
        }
        func link(_ s: String) throws(ParseError) -> (MemberID, MemberID) {
            let parts = s.split(separator: "-", maxSplits: 1)
            guard parts.count == 2, parts[1].hasPrefix(">") else { throw fail("bad link '\(s)' (want from->to)") }
            return (try member(String(parts[0])), try member(String(parts[1].dropFirst())))
        }
        func position(_ words: ArraySlice<String>) throws(ParseError) -> Int {
            for w in words where w.hasPrefix("#") { return try int(String(w.dropFirst())) - 1 }
            return 0
        }
        switch name {
        case "add-nodes":
            var options: [String: String] = [:]
            var learners = 0
            for a in args.dropFirst() {
                let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw fail("bad option '\(a)'") }
                if kv[0] == "learners" { learners = try int(kv[1]) } else { options[kv[0]] = kv[1] }
            }
            return .addNodes(voters: try int(try arg(0)), learners: learners, options: options)
        case "add-node": return .addNode(try member(try arg(0)))
        case "campaign": return .campaign(try member(try arg(0)))
        case "tick": return .tick(try member(try arg(0)), count: args.count > 1 ? try int(args[1]) : 1)
        case "tick-all": return .tickAll(count: args.isEmpty ? 1 : try int(args[0]))
        case "propose":
            guard args.count >= 2 else { throw fail("propose needs a member and data") }
            return .propose(try member(args[0]), Array(args.dropFirst()))
        case "propose-conf-change":
            var transition = ConfChangeTransitionName.auto
            var v1 = false
            var changes: [String] = []
            for a in args.dropFirst() {
                if a.hasPrefix("transition=") {
                    guard let t = ConfChangeTransitionName(rawValue: String(a.dropFirst("transition=".count))) else { throw fail("bad transition") }
                    transition = t
                } else if a == "format=v1" {
                    v1 = true
                } else {
                    changes.append(a)
                }
            }
            return .proposeConfChange(try member(try arg(0)), transition: transition, v1: v1, changes: changes)
        case "read-index": return .readIndex(try member(try arg(0)), context: try arg(1))
        case "transfer-leader": return .transferLeader(try member(try arg(0)), to: try member(try arg(1)))
        case "ready": return .ready(try member(try arg(0)))
        case "ready-start": return .readyStart(try member(try arg(0)))
        case "ready-finish": return .readyFinish(try member(try arg(0)))
        case "deliver":
            let (from, to) = try link(try arg(0))
            return .deliver(from: from, to: to, position: try position(args.dropFirst()), duplicate: args.contains("dup"))
        case "deliver-to": return .deliverTo(try member(try arg(0)))
        case "drop":
            let (from, to) = try link(try arg(0))
            return .drop(from: from, to: to, position: try position(args.dropFirst()))
        case "stabilize":
            var ids: [MemberID] = []
            for a in args { ids.append(try member(a)) }
            return .stabilize(ids)
        case "partition":
            var groups: [[MemberID]] = [[]]
            for a in args {
                if a == "/" { groups.append([]) } else { groups[groups.count - 1].append(try member(a)) }
            }
            return .partition(groups)
        case "heal": return .heal
        case "crash": return .crash(try member(try arg(0)))
        case "crash-during-ready": return .crashDuringReady(try member(try arg(0)))
        case "restart": return .restart(try member(try arg(0)))
        case "compact":
            var keep: UInt64 = 0
            for a in args.dropFirst() where a.hasPrefix("keep=") {
                guard let k = UInt64(a.dropFirst(5)) else { throw fail("bad keep") }
                keep = k
            }
            return .compact(try member(try arg(0)), keep: keep)
        case "report-unreachable": return .reportUnreachable(try member(try arg(0)), peer: try member(try arg(1)))
        case "report-snapshot":
            return .reportSnapshot(try member(try arg(0)), peer: try member(try arg(1)), ok: try arg(2) == "ok")
        case "corrupt":
            guard let index = UInt64(try arg(1)) else { throw fail("bad index") }
            return .corrupt(try member(try arg(0)), index: index)
        case "check-liveness": return .checkLiveness
        case "status": return .status(try member(try arg(0)))
        case "log": return .log(try member(try arg(0)))
        default: throw fail("unknown command")
        }
    }
}
