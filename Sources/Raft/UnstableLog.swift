import EtcdProto

/// The tail of the log that is not yet persisted: entries (and possibly a snapshot) that a `Ready`
/// hands to the application and that become stable when it calls `advance()`.
///
/// Invariants:
/// - `entries[i].index == offset + i` (consecutive from `offset`);
/// - with a snapshot, `offset == snapshot.index + 1`, and the stored log is to be replaced by it;
/// - everything below `offset` is in storage, unless a snapshot is pending.
struct UnstableLog {
    /// A snapshot received from the leader and not yet persisted.
    var snapshot: Snapshot?
    var entries: [Entry] = []
    /// The index of `entries[0]` (or where the next entry will go).
    var offset: LogIndex

    init(offset: LogIndex) {
        self.offset = offset
    }

    /// The first index of the log, if the pending snapshot decides it.
    var firstIndexIfKnown: LogIndex? {
        snapshot.map { LogIndex($0.metadata.index) + 1 }
    }

    /// The last index of the log, if the unstable part decides it.
    var lastIndexIfKnown: LogIndex? {
        if !entries.isEmpty { return offset + UInt64(entries.count - 1) }
        return snapshot.map { LogIndex($0.metadata.index) }
    }

    /// The term at `index`, if the unstable part knows it.
    func termIfKnown(at index: LogIndex) -> Term? {
        if index < offset {
            if let snapshot, snapshot.metadata.index == index.rawValue { return Term(snapshot.metadata.term) }
            return nil
        }
        let i = index - offset
        guard i < UInt64(entries.count) else { return nil }
        return Term(entries[Int(i)].term)
    }

    /// Marks entries up to `index` as persisted, if the entry at `index` still has `term` (it may
    /// have been replaced by a new leader's entry since the `Ready` that carried it).
    mutating func stableTo(index: LogIndex, term: Term) {
        guard let t = termIfKnown(at: index), t == term, index >= offset else { return }
        entries.removeFirst(Int(index + 1 - offset))
        offset = index + 1
        // Keep memory bounded after a long burst: give back most of an emptied buffer.
        if entries.isEmpty && entries.capacity > 4096 { entries = [] }
    }

    /// Marks the pending snapshot as persisted, if it is still the one at `index`.
    mutating func stableSnapshotTo(index: LogIndex) {
        if let snapshot, snapshot.metadata.index == index.rawValue { self.snapshot = nil }
    }

    /// Replaces everything with `snapshot`.
    mutating func restore(_ snapshot: Snapshot) {
        offset = LogIndex(snapshot.metadata.index) + 1
        entries = []
        self.snapshot = snapshot
    }

    /// Appends `newEntries`, which start at or before the end of the log; entries from
    /// `newEntries[0].index` on are replaced.
    mutating func truncateAndAppend(_ newEntries: ArraySlice<Entry>) {
        guard let first = newEntries.first else { return }
        let after = LogIndex(first.index)
        if after == offset + UInt64(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if after <= offset {
            // Replaces the whole unstable part (and, when after < offset, a stable suffix too:
            // persisting these entries overwrites it in storage).
            offset = after
            entries = Array(newEntries)
        } else {
            entries.removeSubrange(Int(after - offset)...)
            entries.append(contentsOf: newEntries)
        }
    }

    /// Entries `lo..<hi`, which must lie within the unstable part.
    func slice(from lo: LogIndex, to hi: LogIndex) -> ArraySlice<Entry> {
        precondition(lo <= hi && lo >= offset && hi <= offset + UInt64(entries.count),
                     "unstable slice \(lo)..<\(hi) outside \(offset)..<\(offset + UInt64(entries.count))")
        return entries[Int(lo - offset)..<Int(hi - offset)]
    }
}
