import EtcdProto

/// Everything a member needs the application to do, handed out by `RawNode.ready()`.
///
/// The application processes a Ready in this order, then calls `RawNode.advance()`:
///
/// 1. `messages` may be sent at any point — before, during or after the write in step 2. (They
///    include a leader's appends: a leader writes its log in parallel with its followers, and
///    counts itself only once its write is done.)
/// 2. Persist `snapshot` (if any), then `entries` (an entry at index i replaces every stored
///    entry from i on), then `hardState` (if any) — durably (fsync) when `mustSync` is true,
///    in one batch if possible. Then update the `RaftStorage` the member reads from.
/// 3. Send `messagesAfterPersist`: they vouch for the state written in step 2 (append acks,
///    votes) and must never leave before it is durable.
/// 4. Apply `snapshot` to the state machine (if any), then `committedEntries` in order; a
///    configuration change entry is applied with `RawNode.applyConfChange`. Committed entries
///    may include entries of this same Ready: step 2 has persisted them.
/// 5. Serve the `readStates` whose index is applied.
///
/// Sending a `MsgSnap` (a `messages` entry carrying a snapshot): the leader puts in the snapshot
/// its storage holds. Like etcd's server, the application may send its current state instead
/// (applied index and term, the ConfState in force, the state machine's bytes) — and should, when
/// the stored snapshot may predate the recipient's addition to the group: a member refuses a
/// snapshot whose ConfState does not include it. The outcome must be reported with
/// `RawNode.reportSnapshot`; until then the leader sends that member nothing else. Messages that
/// cannot be delivered may be reported with `RawNode.reportUnreachable`.
public struct Ready: Sendable {
    /// Leader and role, when they changed since the last Ready.
    public var softState: SoftState?
    /// Term, vote and commit index to persist, when they changed since the last Ready.
    public var hardState: HardState?
    /// Answers to `readIndex` requests.
    public var readStates: [ReadState] = []
    /// Log entries to persist, in index order.
    public var entries: [Entry] = []
    /// A snapshot received from the leader, to persist and then apply.
    public var snapshot: Snapshot?
    /// Entries to apply to the state machine, in index order, all committed.
    public var committedEntries: [Entry] = []
    /// Messages that may be sent before the persist of this Ready completes.
    public var messages: [Message] = []
    /// Messages that may only be sent after this Ready's entries, hard state and snapshot are
    /// durable.
    public var messagesAfterPersist: [Message] = []
    /// Whether the write of step 2 must be synced to disk before step 3: true when there are
    /// entries or a snapshot, or the term or vote changed. A change of only the commit index may
    /// be written lazily: it is recovered from the log after a crash.
    public var mustSync: Bool = false

    public init() {}

    /// Whether this Ready asks for anything at all.
    public var containsUpdates: Bool {
        softState != nil || hardState != nil || snapshot != nil || !entries.isEmpty || !committedEntries.isEmpty
            || !messages.isEmpty || !messagesAfterPersist.isEmpty || !readStates.isEmpty
    }
}
