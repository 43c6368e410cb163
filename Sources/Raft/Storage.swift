import EtcdProto

/// Why `RaftStorage` could not answer.
public enum RaftStorageError: Error, Equatable, Sendable {
    /// The index is at or below the last compaction: the entry was folded into the snapshot.
    case compacted
    /// The index is past the last stored entry.
    case unavailable
    /// A snapshot older than the one held was offered.
    case snapshotOutOfDate
    /// The snapshot is being produced; Raft will ask again later.
    case snapshotTemporarilyUnavailable
}

/// The stable part of a member's Raft state, as Raft reads it: the log entries, hard state and
/// snapshot that the application has already persisted. Named `RaftStorage` rather than etcd's
/// `Storage` because swetcd has a module of that name.
///
/// Raft only reads. The application writes, from the same thread that drives `RawNode`, after
/// persisting a `Ready` and before calling `advance()`: the snapshot first, then the entries (which
/// may overwrite a suffix: a new entry at index i discards every stored entry from i on), then the
/// hard state. Raft never asks about anything it has not been told is persisted.
///
/// The log is `snapshot index + 1 ... lastIndex`; the snapshot's index and term stand in for the
/// compacted prefix, so `term(at: firstIndex - 1)` answers too.
public protocol RaftStorage: AnyObject {
    /// The persisted hard state and the membership as of the snapshot (the configuration carried
    /// by later entries is replayed from them). Called once, when the member starts.
    func initialState() throws(RaftStorageError) -> (HardState, ConfState)

    /// Entries `lo..<hi`, in order, owned by the caller. Returns at least one entry when
    /// `lo < hi`, and stops early once the total `Entry.encodedSize` would pass `maxSizeBytes`.
    /// Throws `.compacted` when `lo <= snapshot index`; `hi` is at most `lastIndex + 1`.
    func entries(from lo: LogIndex, to hi: LogIndex, maxSizeBytes: UInt64) throws(RaftStorageError) -> [Entry]

    /// The term of the entry at `index`, for `firstIndex - 1 ... lastIndex`. Throws `.compacted`
    /// below that range and `.unavailable` above it.
    func term(at index: LogIndex) throws(RaftStorageError) -> Term

    /// The index of the first entry that may still be read (snapshot index + 1). When the log is
    /// empty this is `lastIndex + 1`.
    func firstIndex() -> LogIndex

    /// The index of the last stored entry, or the snapshot index when there is none.
    func lastIndex() -> LogIndex

    /// The most recent snapshot. Throws `.snapshotTemporarilyUnavailable` when one is being made;
    /// Raft then retries on a later heartbeat.
    func snapshot() throws(RaftStorageError) -> Snapshot
}
