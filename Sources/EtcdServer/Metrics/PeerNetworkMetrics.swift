import Peer
import Prometheus
import Synchronization

/// etcd's `etcd_network_*` metrics (rafthttp's `metrics.go`), fed by the peer transport: bytes
/// and failures to and from each peer, the round trip of `/raft/probing`, and active and
/// disconnected peers. Labels are member IDs in hex (`To`, `From`, `Local`, `Remote`), as etcd's.
///
/// Each peer's series are made once and kept (a lock and a dictionary read per report).
final class PeerNetworkMetrics: PeerMetrics {
    /// etcd: prometheus.ExponentialBuckets(0.0001, 2, 16), seconds.
    static let roundTripBuckets: [Double] = (0..<16).map { 0.0001 * Double(1 << $0) }

    private struct Series {
        let sentBytes: Counter
        let receivedBytes: Counter
        let sentFailures: Counter
        let receivedFailures: Counter
        let roundTrip: ValueHistogram
        let active: Gauge
        let disconnected: Counter
    }

    private let registry: PrometheusCollectorRegistry
    private let local: String
    private let series = Mutex<[UInt64: Series]>([:])

    init(registry: PrometheusCollectorRegistry, localID: UInt64) {
        self.registry = registry
        self.local = String(localID, radix: 16)
    }

    private func of(_ id: UInt64) -> Series {
        if let s = series.withLock({ $0[id] }) { return s }
        let remote = String(id, radix: 16)
        let r = registry
        let made = Series(
            sentBytes: r.makeCounter(descriptor: .etcd("etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers."), labels: [("To", remote)]),
            receivedBytes: r.makeCounter(descriptor: .etcd("etcd_network_peer_received_bytes_total", "The total number of bytes received from peers."), labels: [("From", remote)]),
            sentFailures: r.makeCounter(descriptor: .etcd("etcd_network_peer_sent_failures_total", "The total number of send failures from peers."), labels: [("To", remote)]),
            receivedFailures: r.makeCounter(descriptor: .etcd("etcd_network_peer_received_failures_total", "The total number of receive failures from peers."), labels: [("From", remote)]),
            roundTrip: r.makeValueHistogram(descriptor: .etcd("etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers"), labels: [("To", remote)], buckets: Self.roundTripBuckets),
            active: r.makeGauge(descriptor: .etcd("etcd_network_active_peers", "The current number of active peer connections."), labels: [("Local", local), ("Remote", remote)]),
            disconnected: r.makeCounter(descriptor: .etcd("etcd_network_disconnected_peers_total", "The total number of disconnected peers."), labels: [("Local", local), ("Remote", remote)]))
        return series.withLock { s in
            if let existing = s[id] { return existing }
            s[id] = made
            return made
        }
    }

    func sent(to: UInt64, bytes: Int) { of(to).sentBytes.increment(by: Int64(bytes)) }
    func received(from: UInt64, bytes: Int) { of(from).receivedBytes.increment(by: Int64(bytes)) }
    func sendFailed(to: UInt64, messages: Int) { of(to).sentFailures.increment(by: Int64(messages)) }
    func receiveFailed(from: UInt64) { of(from).receivedFailures.increment() }
    func roundTrip(to: UInt64, seconds: Double) { of(to).roundTrip.record(seconds) }

    func peerActivated(_ remote: UInt64) { of(remote).active.increment() }

    func peerDeactivated(_ remote: UInt64) {
        let s = of(remote)
        s.active.decrement()
        s.disconnected.increment()
    }
}
