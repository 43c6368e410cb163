import EtcdProto
import Raft

/// A property of Raft that a run broke.
public struct Violation: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// Two leaders in one term (§5.2 Election Safety).
        case electionSafety
        /// Two logs with an entry of the same index and term that differ there or before it
        /// (§5.3 Log Matching).
        case logMatching
        /// A committed entry changed, or a leader lacks one (§5.4 Leader Completeness).
        case committedEntryLost
        /// Members applied different entries at an index (§5.4.3 State Machine Safety).
        case stateMachineSafety
        /// A read index older than a write acknowledged before the read started.
        case linearizability
        /// The group did not make progress once all faults were healed.
        case liveness
        /// A member refused to start or broke its API contract.
        case internalError
    }

    public var kind: Kind
    public var detail: String

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// Checks Raft's safety properties across all members, incrementally, after every step.
///
/// What "committed" means here: an entry at or below the commit index some member persisted.
/// Every check works from durable state (the members' storages) and from what the application
/// was handed (Ready contents), never from Raft's internals.
public final class SafetyChecker {
    private struct IndexTerm: Hashable {
        var index: UInt64
        var term: UInt64
    }

    private struct EntryFacts: Equatable {
        var dataHash: UInt64
        var previousTerm: UInt64?
    }

    /// The leader seen for each term.
    private var leaderOfTerm: [UInt64: MemberID] = [:]
    /// What every entry ever persisted by any member looked like: by Log Matching, (index, term)
    /// decides the data and the previous entry's term.
    private var entryFacts: [IndexTerm: EntryFacts] = [:]
    /// The committed log: term and data hash per index (index 0 unused).
    private(set) var committedTerms: [UInt64] = [0]
    private var committedHashes: [UInt64] = [0]
    /// The highest committed index seen anywhere.
    public private(set) var maxCommitted: LogIndex = .zero
    /// The state machine digest after applying each index, from the first member to apply it.
    private var digestAt: [UInt64: UInt64] = [:]
    /// For each outstanding read, the smallest index its answer may carry.
    private var readFloor: [[UInt8]: LogIndex] = [:]

    public init() {}

    public var leaderTerms: Int { leaderOfTerm.count }
    public private(set) var readsAnswered = 0

    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Chains the state machine digest through one applied entry.
    public static func digest(_ previous: UInt64, _ e: Entry) -> UInt64 {
        var h = previous ^ 0x9E37_79B9_7F4A_7C15
        for v in [e.index, e.term, UInt64(bitPattern: Int64(e.typeRaw)), hash(e.data)] {
            h = (h ^ v) &* 0x100_0000_01b3
            h ^= h >> 29
        }
        return h
    }

    // MARK: hooks

    /// A member is leader in `term` (seen through its status).
    func observeLeader(_ id: MemberID, term: Term) throws(Violation) {
        if let other = leaderOfTerm[term.rawValue], other != id {
            throw Violation(kind: .electionSafety, detail: "\(other) and \(id) both led term \(term)")
        }
        leaderOfTerm[term.rawValue] = id
    }

    /// A member persisted `entries`; `storage` is its storage afterwards.
    func observePersisted(_ id: MemberID, entries: [Entry], storage: MemoryStorage) throws(Violation) {
        for e in entries {
            let previous = e.index > 0 ? try? storage.term(at: LogIndex(e.index - 1)).rawValue : nil
            let facts = EntryFacts(dataHash: Self.hash(e.data) ^ UInt64(bitPattern: Int64(e.typeRaw)), previousTerm: previous)
            let key = IndexTerm(index: e.index, term: e.term)
            if let known = entryFacts[key] {
                if known.dataHash != facts.dataHash {
                    throw Violation(kind: .logMatching, detail: "member \(id) holds \(e.term)/\(e.index) with different data")
                }
                if let p = facts.previousTerm, let q = known.previousTerm, p != q {
                    throw Violation(kind: .logMatching, detail: "member \(id) holds \(e.term)/\(e.index) after term \(p), another member after term \(q)")
                }
                if known.previousTerm == nil && facts.previousTerm != nil { entryFacts[key] = facts }
            } else {
                entryFacts[key] = facts
            }
        }
    }

    /// A member's durable commit index is `commit`; checks and records the committed entries it
    /// holds up to there.
    func observeCommitted(_ id: MemberID, commit: LogIndex, storage: MemoryStorage, from: LogIndex) throws(Violation) {
        var i = Swift.max(from, storage.firstIndex())
        while i <= commit {
            guard let term = try? storage.term(at: i),
                  let e = try? storage.entries(from: i, to: i + 1, maxSizeBytes: .max).first
            else {
                throw Violation(kind: .committedEntryLost, detail: "member \(id) committed \(commit) but lacks entry \(i)")
            }
            let h = Self.hash(e.data) ^ UInt64(bitPattern: Int64(e.typeRaw))
            let n = Int(i.rawValue)
            if n < committedTerms.count {
                if committedTerms[n] != term.rawValue || committedHashes[n] != h {
                    throw Violation(kind: .committedEntryLost, detail: "member \(id) has \(term)/\(i) committed, but \(committedTerms[n])/\(i) was committed before")
                }
            } else {
                while committedTerms.count < n {
                    // A gap: committed entries compacted everywhere before anyone reported them.
                    committedTerms.append(0)
                    committedHashes.append(0)
                }
                committedTerms.append(term.rawValue)
                committedHashes.append(h)
            }
            i = i + 1
        }
        if commit > maxCommitted { maxCommitted = commit }
    }

    /// A newly elected leader must hold every committed entry (Leader Completeness).
    func checkLeaderCompleteness(_ id: MemberID, node: RawNode) throws(Violation) {
        var i = LogIndex(1)
        let upTo = LogIndex(UInt64(committedTerms.count - 1))
        while i <= upTo {
            let expected = committedTerms[Int(i.rawValue)]
            if expected != 0, let t = node.term(at: i), t.rawValue != expected {
                throw Violation(kind: .committedEntryLost, detail: "leader \(id) at term \(node.term) has \(t)/\(i), committed was \(expected)/\(i)")
            }
            if expected != 0 && i > node.lastIndex {
                throw Violation(kind: .committedEntryLost, detail: "leader \(id) at term \(node.term) lacks committed entry \(i) (last index \(node.lastIndex))")
            }
            i = i + 1
        }
    }

    /// A member applied entry `e` reaching digest `digest`.
    func observeApplied(_ id: MemberID, entry e: Entry, digest: UInt64) throws(Violation) {
        if let known = digestAt[e.index] {
            if known != digest {
                throw Violation(kind: .stateMachineSafety, detail: "member \(id) applied \(e.term)/\(e.index) reaching a state no other member had there")
            }
        } else {
            digestAt[e.index] = digest
        }
        let n = Int(e.index)
        if n < committedTerms.count, committedTerms[n] != 0, committedTerms[n] != e.term {
            throw Violation(kind: .stateMachineSafety, detail: "member \(id) applied \(e.term)/\(e.index), committed was \(committedTerms[n])/\(e.index)")
        }
    }

    /// A member installed a snapshot at `index` with state `digest`.
    func observeSnapshotApplied(_ id: MemberID, index: LogIndex, digest: UInt64) throws(Violation) {
        if let known = digestAt[index.rawValue], known != digest {
            throw Violation(kind: .stateMachineSafety, detail: "member \(id) installed a snapshot at \(index) with a state no other member had there")
        }
        digestAt[index.rawValue] = digest
    }

    /// A read is issued: its answer must cover everything committed so far.
    func readIssued(context: [UInt8]) {
        readFloor[context] = maxCommitted
    }

    func readAnswered(_ id: MemberID, _ rs: ReadState) throws(Violation) {
        guard let floor = readFloor[rs.requestContext] else { return }
        readsAnswered += 1
        if rs.index < floor {
            throw Violation(kind: .linearizability, detail: "member \(id) got read index \(rs.index) for \(Describe.data(rs.requestContext)), but \(floor) was committed before the read was issued")
        }
        if rs.index > maxCommitted {
            throw Violation(kind: .linearizability, detail: "member \(id) got read index \(rs.index), past anything committed (\(maxCommitted))")
        }
    }
}
