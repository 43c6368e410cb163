/// Failures of MVCC operations that a client can cause; the server maps them to etcd's errors.
public enum MVCCError: Error, Equatable, Sendable {
    /// The revision asked for is at or below the compacted revision (etcd `ErrCompacted`).
    case compacted
    /// The revision asked for is above the current revision (etcd `ErrFutureRev`).
    case futureRevision
    /// ignore_value/ignore_lease on a key that does not exist (etcd `ErrKeyNotFound`).
    case keyNotFound
    /// A long key whose digest is another key's (see `BackendKey`); never seen with SHA-256.
    case keyCollision
    /// An empty key: etcd's gRPC edge refuses it, and the backend cannot index it.
    case emptyKey
    /// The backend reached its size limit.
    case noSpace
    /// The backend failed: the message says how. Not caused by the client.
    case backend(String)
}
