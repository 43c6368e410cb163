/// What the peer transport reports for etcd's `etcd_network_*` metrics (the member implements
/// it; the peer module knows no metrics library). Labels are the remote member's ID.
///
/// Called from event loops and the raft thread: every method must be quick and must not block.
public protocol PeerMetrics: Sendable {
    /// Bytes written to `to` (stream chunks, pipeline bodies, snapshots).
    func sent(to: UInt64, bytes: Int)
    /// Bytes read from `from` (stream chunks, pipeline bodies).
    func received(from: UInt64, bytes: Int)
    /// Messages to `to` that could not be queued or sent.
    func sendFailed(to: UInt64, messages: Int)
    /// A message or stream from `from` that could not be read.
    func receiveFailed(from: UInt64)
    /// A `/raft/probing` round trip to `to`.
    func roundTrip(to: UInt64, seconds: Double)
    /// `remote` became reachable (it had not been), or stopped being reachable.
    func peerActivated(_ remote: UInt64)
    func peerDeactivated(_ remote: UInt64)
}
