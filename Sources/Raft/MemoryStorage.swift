import EtcdProto

/// A `RaftStorage` held in memory: what tests, the simulator and the benchmark persist to. The
/// server's WAL-backed storage follows the same rules.
///
/// Not thread-safe: one thread (the one driving `RawNode`) uses it. `entries[0]` is a dummy entry
/// standing for the snapshot (its index and term), so the term of `firstIndex - 1` is always known.
public final class MemoryStorage: RaftStorage {
    public private(set) var hardState = HardState()
    public private(set) var currentSnapshot = Snapshot()
    /// `entries[0]` is the dummy; real entries follow with consecutive indexes.
    private var entries: [Entry]

    /// Empty storage: a member joining an existing group, which learns the membership from the
    /// leader.
    public init() {
        entries = [Entry()]
    }

    /// The storage of a founding member of a new group: an empty log and the initial membership.
    public convenience init(confState: ConfState) {
        self.init()
        currentSnapshot.metadata.confState = confState
    }

    private var offset: LogIndex { LogIndex(entries[0].index) }

    public func initialState() throws(RaftStorageError) -> (HardState, ConfState) {
        (hardState, currentSnapshot.metadata.confState)
    }

    public func setHardState(_ state: HardState) {
        hardState = state
    }

    public func entries(from lo: LogIndex, to hi: LogIndex, maxSizeBytes: UInt64) throws(RaftStorageError) -> [Entry] {
        let offset = self.offset
        if lo <= offset { throw .compacted }
        precondition(hi <= lastIndex() + 1, "entries(\(lo)..<\(hi)) past last index \(lastIndex())")
        precondition(lo <= hi, "entries(\(lo)..<\(hi)) inverted")
        if entries.count == 1 { throw .unavailable }
        let slice = entries[Int(lo - offset)..<Int(hi - offset)]
        let n = EntrySizeLimit.prefixCount(slice, maxSizeBytes: maxSizeBytes)
        return Array(slice.prefix(n))
    }

    public func term(at index: LogIndex) throws(RaftStorageError) -> Term {
        let offset = self.offset
        if index < offset { throw .compacted }
        let i = index - offset
        if i >= UInt64(entries.count) { throw .unavailable }
        return Term(entries[Int(i)].term)
    }

    public func firstIndex() -> LogIndex { offset + 1 }

    public func lastIndex() -> LogIndex { offset + UInt64(entries.count - 1) }

    public func snapshot() throws(RaftStorageError) -> Snapshot { currentSnapshot }

    /// Replaces the whole state with `snapshot` (a member installing one sent by the leader).
    public func applySnapshot(_ snapshot: Snapshot) throws(RaftStorageError) {
        if currentSnapshot.metadata.index >= snapshot.metadata.index { throw .snapshotOutOfDate }
        currentSnapshot = snapshot
        entries = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    /// Records a snapshot of the application state as of `index` (which must be stored and, for
    /// the snapshot to be useful, applied). Does not compact; call `compact(upTo:)` after.
    @discardableResult
    public func createSnapshot(at index: LogIndex, confState: ConfState?, data: [UInt8]) throws(RaftStorageError) -> Snapshot {
        if index.rawValue <= currentSnapshot.metadata.index { throw .snapshotOutOfDate }
        precondition(index <= lastIndex(), "snapshot at \(index) past last index \(lastIndex())")
        currentSnapshot.metadata.index = index.rawValue
        currentSnapshot.metadata.term = entries[Int(index - offset)].term
        if let confState { currentSnapshot.metadata.confState = confState }
        currentSnapshot.data = data
        return currentSnapshot
    }

    /// Discards the entries before `index`; `index` becomes the dummy entry. It must not exceed
    /// the applied index (the application must not need the discarded entries again).
    public func compact(upTo index: LogIndex) throws(RaftStorageError) {
        let offset = self.offset
        if index <= offset { throw .compacted }
        precondition(index <= lastIndex(), "compact \(index) past last index \(lastIndex())")
        let i = Int(index - offset)
        var kept: [Entry] = []
        kept.reserveCapacity(entries.count - i)
        kept.append(Entry(term: entries[i].term, index: entries[i].index))
        kept.append(contentsOf: entries[(i + 1)...])
        entries = kept
    }

    /// Stores entries from a `Ready`. An entry at an index already stored replaces it and every
    /// entry after it; entries at or below the snapshot index are ignored.
    public func append(_ newEntries: [Entry]) {
        guard var first = newEntries.first else { return }
        let firstStored = firstIndex()
        let lastNew = LogIndex(first.index) + UInt64(newEntries.count - 1)
        if lastNew < firstStored { return }
        var slice = newEntries[...]
        if firstStored > LogIndex(first.index) {
            slice = slice.dropFirst(Int(firstStored - LogIndex(first.index)))
            first = slice.first!
        }
        let at = Int(LogIndex(first.index) - offset)
        precondition(at <= entries.count, "gap in the log: last \(lastIndex()), appending at \(first.index)")
        if at < entries.count { entries.removeSubrange(at...) }
        entries.append(contentsOf: slice)
    }
}
