import EtcdProto
import Testing
@testable import Raft

/// The small state machines under replication: the inflight window, a follower's `Progress`, the
/// unstable log and `RaftLog`, and `MemoryStorage`.
@Suite("Replication state") struct ReplicationStateTests {
    // MARK: Inflights

    @Test("The inflight window fills, frees up to an index, wraps around, and frees one on a heartbeat")
    func inflights() {
        var w = Inflights(capacity: 4)
        for i in 1...4 { w.add(LogIndex(UInt64(i))) }
        #expect(w.isFull)
        w.freeLE(LogIndex(2))
        #expect(w.count == 2 && !w.isFull)
        w.add(LogIndex(5))
        w.add(LogIndex(6))  // wraps
        #expect(w.isFull)
        w.freeLE(LogIndex(1))  // stale: nothing freed
        #expect(w.count == 4)
        w.freeFirstOne()
        #expect(w.count == 3)
        w.freeLE(LogIndex(6))
        #expect(w.count == 0)
        w.add(LogIndex(7))
        #expect(w.count == 1)
    }

    // MARK: Progress

    @Test("Probe → replicate → snapshot → probe: next follows match and the snapshot")
    func progressTransitions() {
        var pr = Progress(match: LogIndex(1), next: LogIndex(5), maxInflight: 2, isLearner: false)
        #expect(pr.state == .probe)
        pr.sentEntries(upTo: LogIndex(6))
        #expect(pr.isPaused)  // one probe at a time
        let updated = pr.maybeUpdate(LogIndex(6))
        #expect(updated)
        pr.becomeReplicate()
        #expect(pr.next == LogIndex(7) && !pr.isPaused)
        pr.sentEntries(upTo: LogIndex(8))
        pr.sentEntries(upTo: LogIndex(9))
        #expect(pr.isPaused)  // window of 2 full
        pr.heartbeatAnswered()
        #expect(!pr.isPaused)  // one slot freed
        pr.becomeSnapshot(index: LogIndex(20))
        #expect(pr.isPaused)
        pr.becomeProbe()
        #expect(pr.next == LogIndex(21))  // past the snapshot, which most likely arrived
    }

    @Test("A rejection lowers next: in replicate to match + 1, in probe only for the last probe")
    func progressRejections() {
        var pr = Progress(match: LogIndex(5), next: LogIndex(10), maxInflight: 4, isLearner: false)
        pr.becomeReplicate()
        pr.sentEntries(upTo: LogIndex(9))
        let stale = pr.maybeDecrease(rejected: LogIndex(4), hint: LogIndex(4))
        #expect(!stale)
        let lowered = pr.maybeDecrease(rejected: LogIndex(8), hint: LogIndex(8))
        #expect(lowered)
        #expect(pr.next == LogIndex(6))
        pr.becomeProbe()
        pr.sentEntries(upTo: LogIndex(6))
        let notLastProbe = pr.maybeDecrease(rejected: LogIndex(3), hint: LogIndex(2))
        #expect(!notLastProbe)
        let lastProbe = pr.maybeDecrease(rejected: LogIndex(5), hint: LogIndex(2))
        #expect(lastProbe)
        #expect(pr.next == LogIndex(6))  // never below match + 1
        #expect(!pr.isPaused)
    }

    // MARK: Unstable log and RaftLog

    @Test("The unstable log appends, replaces a suffix, or replaces everything", arguments: [
        (5, [5, 6], [1, 1, 2, 2]),      // after the offset: keep 3 and 4, replace from 5
        (6, [6], [1, 1, 1, 2]),         // at the end: a plain append
        (3, [3], [2]),                  // at the offset: replace all
        (2, [2, 3], [2, 2]),            // before the offset: replace all (and a stable suffix)
    ] as [(UInt64, [UInt64], [UInt64])])
    func unstableTruncateAndAppend(first: UInt64, indexes: [UInt64], expectedTerms: [UInt64]) {
        var u = UnstableLog(offset: LogIndex(3))
        u.truncateAndAppend([entry(1, 3), entry(1, 4), entry(1, 5)][...])
        let new = indexes.map { entry(2, $0) }
        u.truncateAndAppend(new[...])
        #expect(u.entries.map(\.term) == expectedTerms)
        #expect(u.offset == LogIndex(Swift.min(3, first)))
    }

    @Test("stableTo ignores an entry that was replaced since the Ready carried it")
    func stableToChecksTerm() {
        var u = UnstableLog(offset: LogIndex(1))
        u.truncateAndAppend([entry(1, 1), entry(1, 2)][...])
        u.truncateAndAppend([entry(2, 2)][...])
        u.stableTo(index: LogIndex(2), term: Term(1))  // the old entry 2
        #expect(u.offset == LogIndex(1) && u.entries.count == 2)
        u.stableTo(index: LogIndex(2), term: Term(2))
        #expect(u.offset == LogIndex(3) && u.entries.isEmpty)
    }

    @Test("findConflictByTerm finds the last index at or below with a term at most the given one")
    func findConflictByTerm() {
        let storage = MemoryStorage()
        storage.append([1, 1, 2, 2, 5, 5].enumerated().map { entry($1, UInt64($0 + 1)) })
        let log = RaftLog(storage: storage, maxCommittedSizePerReadyBytes: .max)
        #expect(log.findConflictByTerm(index: LogIndex(6), term: Term(4)) == (LogIndex(4), Term(2)))
        #expect(log.findConflictByTerm(index: LogIndex(6), term: Term(5)) == (LogIndex(6), Term(5)))
        #expect(log.findConflictByTerm(index: LogIndex(4), term: Term(1)) == (LogIndex(2), Term(1)))
        #expect(log.findConflictByTerm(index: LogIndex(6), term: Term(0)) == (LogIndex.zero, Term.zero))
    }

    @Test("A slice across storage and the unstable tail respects the size limit but returns at least one entry")
    func sliceAcrossStorageAndUnstable() throws {
        let storage = MemoryStorage()
        storage.append((1...3).map { entry(1, $0, "0123456789") })
        var log = RaftLog(storage: storage, maxCommittedSizePerReadyBytes: .max)
        log.append((4...6).map { entry(1, $0, "0123456789") }[...])
        let size = UInt64(entry(1, 1, "0123456789").encodedSize)
        #expect(try log.slice(from: LogIndex(1), to: LogIndex(7), maxSizeBytes: .max).get().map(\.index) == [1, 2, 3, 4, 5, 6])
        #expect(try log.slice(from: LogIndex(2), to: LogIndex(7), maxSizeBytes: size * 4).get().map(\.index) == [2, 3, 4, 5])
        #expect(try log.slice(from: LogIndex(3), to: LogIndex(7), maxSizeBytes: 1).get().map(\.index) == [3])
        #expect(try log.slice(from: LogIndex(4), to: LogIndex(7), maxSizeBytes: size * 2).get().map(\.index) == [4, 5])
    }

    @Test("Entries compacted away are reported as such, not as an empty log")
    func compactedSlice() throws {
        let storage = MemoryStorage()
        storage.append((1...5).map { entry(1, $0) })
        try storage.compact(upTo: LogIndex(3))
        let log = RaftLog(storage: storage, maxCommittedSizePerReadyBytes: .max)
        #expect(log.firstIndex == LogIndex(4))
        #expect(throws: RaftStorageError.compacted) { try log.slice(from: LogIndex(2), to: LogIndex(5), maxSizeBytes: .max).get() }
        #expect(try log.term(at: LogIndex(3)).get() == Term(1))  // the compaction point keeps its term
        #expect(throws: RaftStorageError.compacted) { try log.term(at: LogIndex(2)).get() }
    }

    // MARK: MemoryStorage

    @Test("MemoryStorage: appends overwrite a suffix, compaction keeps the term of its point, snapshots move forward only")
    func memoryStorage() throws {
        let s = MemoryStorage()
        s.append((1...5).map { entry(1, $0) })
        s.append([entry(2, 4)])
        #expect(s.lastIndex() == LogIndex(4))
        #expect(try s.term(at: LogIndex(4)) == Term(2))
        try s.compact(upTo: LogIndex(2))
        #expect(s.firstIndex() == LogIndex(3))
        #expect(throws: RaftStorageError.compacted) { try s.compact(upTo: LogIndex(2)) }
        #expect(throws: RaftStorageError.unavailable) { try s.term(at: LogIndex(9)) }
        let snap = try s.createSnapshot(at: LogIndex(3), confState: ConfState(voters: [1]), data: [9])
        #expect(snap.metadata.index == 3 && snap.metadata.term == 1)
        #expect(throws: RaftStorageError.snapshotOutOfDate) { try s.createSnapshot(at: LogIndex(3), confState: nil, data: []) }
        var newer = Snapshot()
        newer.metadata = SnapshotMetadata(confState: ConfState(voters: [1, 2]), index: 10, term: 3)
        try s.applySnapshot(newer)
        #expect(s.firstIndex() == LogIndex(11) && s.lastIndex() == LogIndex(10))
        #expect(try s.initialState().1.voters == [1, 2])
        s.append([entry(3, 8), entry(3, 9), entry(3, 10), entry(3, 11)])  // the part below the snapshot is ignored
        #expect(s.lastIndex() == LogIndex(11))
    }
}
