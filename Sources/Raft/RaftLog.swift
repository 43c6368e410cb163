import EtcdProto

/// A member's view of the replicated log: the stable prefix in `RaftStorage`, the unstable tail in
/// `UnstableLog`, and the two cursors `committed` and `applied`.
///
/// Invariants: `applied <= committed <= lastIndex`, and `firstIndex - 1 <= committed` (a
/// compacted entry is always committed). `committed` never decreases.
struct RaftLog {
    let storage: any RaftStorage
    var unstable: UnstableLog
    /// The highest index known to be stored on a quorum.
    var committed: LogIndex
    /// The highest index the application has applied (as reported through `advance()`).
    var applied: LogIndex
    /// Bounds the committed entries handed out in one `Ready`.
    let maxCommittedSizePerReadyBytes: UInt64

    init(storage: any RaftStorage, maxCommittedSizePerReadyBytes: UInt64) {
        self.storage = storage
        let first = storage.firstIndex()
        let last = storage.lastIndex()
        unstable = UnstableLog(offset: last + 1)
        // Everything up to the snapshot is committed and applied by definition.
        committed = first - 1
        applied = first - 1
        self.maxCommittedSizePerReadyBytes = maxCommittedSizePerReadyBytes
    }

    // MARK: bounds

    var firstIndex: LogIndex {
        unstable.firstIndexIfKnown ?? storage.firstIndex()
    }

    var lastIndex: LogIndex {
        unstable.lastIndexIfKnown ?? storage.lastIndex()
    }

    var lastTerm: Term {
        switch term(at: lastIndex) {
        case .success(let t): return t
        case .failure(let e): preconditionFailure("no term for the last index \(lastIndex): \(e)")
        }
    }

    /// The last index known to be persisted and still part of this log (entries below the unstable
    /// offset). Nil while a snapshot is pending: the stored log is about to be replaced.
    var lastStableIndex: LogIndex? {
        unstable.snapshot == nil ? unstable.offset - 1 : nil
    }

    // MARK: terms

    /// The term at `index`. Index 0 and indexes past the end have term 0 (no entry); an index
    /// below the first stored entry fails with `.compacted`.
    func term(at index: LogIndex) -> Result<Term, RaftStorageError> {
        // The valid range is [firstIndex - 1, lastIndex]; firstIndex - 1 is the snapshot's term.
        if let t = unstable.termIfKnown(at: index) { return .success(t) }
        let dummy = firstIndex - 1
        if index < dummy || index > lastIndex { return index < dummy ? .failure(.compacted) : .success(.zero) }
        do {
            return .success(try storage.term(at: index))
        } catch .compacted {
            return .failure(.compacted)
        } catch .unavailable {
            return .failure(.unavailable)
        } catch {
            preconditionFailure("storage.term(at: \(index)): \(error)")
        }
    }

    /// The term at `index`, or 0 when it is compacted away.
    func termOrZero(at index: LogIndex) -> Term {
        switch term(at: index) {
        case .success(let t): return t
        case .failure(.compacted): return .zero
        case .failure(let e): preconditionFailure("term(at: \(index)): \(e)")
        }
    }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool {
        if case .success(let t) = self.term(at: index) { return t == term }
        return false
    }

    /// Raft's "at least as up-to-date" order on logs (§5.4.1): a later last term wins, and with
    /// equal last terms the longer log wins.
    func isUpToDate(lastIndex index: LogIndex, lastTerm term: Term) -> Bool {
        let myTerm = lastTerm
        return term > myTerm || (term == myTerm && index >= lastIndex)
    }

    // MARK: appending

    /// Handles the entries of an append message that follow `(index, logTerm)`. Returns the index
    /// of the last new entry if the log contains `(index, logTerm)` (the consistency check of
    /// §5.3), nil otherwise. Entries already present are kept; the first conflicting entry and
    /// everything after it are replaced; the commit index moves up to `min(commit, last new)`.
    mutating func maybeAppend(index: LogIndex, logTerm: Term, commit: LogIndex, entries: [Entry]) -> LogIndex? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(entries.count)
        if let conflict = findConflict(entries) {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed entry (committed \(committed))")
            let start = Int(conflict - (index + 1))
            append(entries[start...])
        }
        self.commit(to: Swift.min(commit, lastNew))
        return lastNew
    }

    /// Appends entries that continue (or overwrite an uncommitted suffix of) this log. Returns the
    /// new last index.
    @discardableResult
    mutating func append(_ entries: ArraySlice<Entry>) -> LogIndex {
        guard let first = entries.first else { return lastIndex }
        precondition(LogIndex(first.index) - 1 >= committed, "append after \(first.index - 1) would overwrite committed \(committed)")
        unstable.truncateAndAppend(entries)
        return lastIndex
    }

    /// The index of the first entry in `entries` whose index holds a different term in this log
    /// (or that is past the end), or nil when every entry is already present.
    func findConflict(_ entries: [Entry]) -> LogIndex? {
        for e in entries where !matchTerm(LogIndex(e.index), Term(e.term)) {
            return LogIndex(e.index)
        }
        return nil
    }

    /// Fast backtracking (Raft thesis §5.3 optimisation, as etcd does it): the largest index at or
    /// below `index` whose term is at most `term`, with that term. A leader probing a follower with
    /// a rejected `(index, term)` can jump there, skipping every entry of a term the other side
    /// cannot have. A compacted index is returned with term 0 ("may match; unknown").
    func findConflictByTerm(index: LogIndex, term: Term) -> (index: LogIndex, term: Term) {
        var i = index
        while i > .zero {
            switch self.term(at: i) {
            case .success(let t) where t > term:
                i = i - 1
            case .success(let t):
                return (i, t)
            case .failure:
                return (i, .zero)
            }
        }
        return (.zero, .zero)
    }

    // MARK: reading

    /// Entries `lo..<hi`, limited to `maxSizeBytes` (at least one entry). Fails with `.compacted`
    /// when `lo` is below the first index.
    func slice(from lo: LogIndex, to hi: LogIndex, maxSizeBytes: UInt64) -> Result<[Entry], RaftStorageError> {
        precondition(lo <= hi, "slice \(lo)..<\(hi) inverted")
        if lo < firstIndex { return .failure(.compacted) }
        precondition(hi <= lastIndex + 1, "slice \(lo)..<\(hi) past last index \(lastIndex)")
        if lo == hi { return .success([]) }
        var result: [Entry] = []
        var remainingBytes = maxSizeBytes
        if lo < unstable.offset {
            let storedHi = Swift.min(hi, unstable.offset)
            let stored: [Entry]
            do {
                stored = try storage.entries(from: lo, to: storedHi, maxSizeBytes: maxSizeBytes)
            } catch .compacted {
                return .failure(.compacted)
            } catch {
                preconditionFailure("storage.entries(\(lo)..<\(storedHi)): \(error)")
            }
            // Storage stopped early because of the size limit: nothing more fits.
            if UInt64(stored.count) < storedHi - lo { return .success(stored) }
            result = stored
            if maxSizeBytes != EntrySizeLimit.unlimited {
                var used: UInt64 = 0
                for e in stored { used += UInt64(e.encodedSize) }
                if used >= maxSizeBytes { return .success(result) }
                remainingBytes = maxSizeBytes - used
            }
        }
        if hi > unstable.offset {
            let tail = unstable.slice(from: Swift.max(lo, unstable.offset), to: hi)
            if result.isEmpty {
                let n = EntrySizeLimit.prefixCount(tail, maxSizeBytes: remainingBytes)
                return .success(Array(tail.prefix(n)))
            }
            // Past the stored part, every further entry must fit in what is left.
            var taken = 0
            var used: UInt64 = 0
            for e in tail {
                used += UInt64(e.encodedSize)
                if remainingBytes != EntrySizeLimit.unlimited && used > remainingBytes { break }
                taken += 1
            }
            result.append(contentsOf: tail.prefix(taken))
        }
        return .success(result)
    }

    /// Entries from `index` to the end, limited to `maxSizeBytes`.
    func entries(from index: LogIndex, maxSizeBytes: UInt64) -> Result<[Entry], RaftStorageError> {
        if index > lastIndex { return .success([]) }
        return slice(from: index, to: lastIndex + 1, maxSizeBytes: maxSizeBytes)
    }

    /// The snapshot to send a follower that needs compacted entries.
    func snapshot() throws(RaftStorageError) -> Snapshot {
        if let s = unstable.snapshot { return s }
        return try storage.snapshot()
    }

    // MARK: committing and applying

    mutating func commit(to index: LogIndex) {
        guard committed < index else { return }
        precondition(index <= lastIndex, "commit to \(index) past last index \(lastIndex): was the log corrupted, truncated or lost?")
        committed = index
    }

    /// Commits `index` if it is beyond the commit index and its entry has the current `term`: a
    /// leader only commits entries of its own term by counting replicas (§5.4.2); earlier entries
    /// commit with them.
    mutating func maybeCommit(index: LogIndex, term: Term) -> Bool {
        if index > committed && termOrZero(at: index) == term {
            commit(to: index)
            return true
        }
        return false
    }

    mutating func applied(to index: LogIndex) {
        if index == .zero { return }
        precondition(index <= committed && index >= applied, "applied \(index) outside [\(applied), \(committed)]")
        applied = index
    }

    /// Whether committed entries wait to be applied.
    var hasEntriesToApply: Bool {
        committed + 1 > Swift.max(applied + 1, firstIndex)
    }

    /// The committed entries not yet applied, bounded by `maxCommittedSizePerReadyBytes`. They may
    /// include unstable entries: the application persists a `Ready`'s entries before applying its
    /// committed entries.
    func entriesToApply() -> [Entry] {
        let lo = Swift.max(applied + 1, firstIndex)
        guard committed + 1 > lo else { return [] }
        switch slice(from: lo, to: committed + 1, maxSizeBytes: maxCommittedSizePerReadyBytes) {
        case .success(let entries): return entries
        case .failure(let e): preconditionFailure("entries to apply \(lo)...\(committed): \(e)")
        }
    }

    // MARK: persistence feedback

    mutating func stableTo(index: LogIndex, term: Term) {
        unstable.stableTo(index: index, term: term)
    }

    mutating func stableSnapshotTo(index: LogIndex) {
        unstable.stableSnapshotTo(index: index)
    }

    /// Replaces the log with a snapshot sent by the leader.
    mutating func restore(_ snapshot: Snapshot) {
        committed = LogIndex(snapshot.metadata.index)
        unstable.restore(snapshot)
    }
}
