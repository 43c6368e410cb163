import EtcdProto
import MVCC
import Prometheus
import Transport

/// etcd's Prometheus metrics for what swetcd has, with etcd's names, labels and units, in one
/// registry (swift-prometheus) rendered at `/metrics`.
///
/// Counters and histograms are updated where things happen (the raft thread for applies, fsyncs
/// and commits; the event loops for gRPC calls and reads); gauges that mirror state (leader,
/// indexes, sizes, versions, process) are set from that state at each scrape (`render`).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let liveKeys = LiveKeyCount()

    // etcd_mvcc_*: operations applied (writes) or served (reads) by this member.
    let puts: Counter
    let deletes: Counter
    let ranges: Counter
    let txns: Counter

    let watchEvents: Counter
    // etcd_debugging_lease_*: grants and revokes applied (expiries included), renewals served.
    let leasesGranted: Counter
    let leasesRevoked: Counter
    let leasesRenewed: Counter
    /// etcd: prometheus.ExponentialBuckets(1, 2, 14), seconds.
    let leaseTTLs: ValueHistogram
    let leaderChanges: Counter
    let proposalsFailed: Counter
    let slowApplies: Counter
    let heartbeatSendFailures: Counter
    let readIndexesFailed: Counter

    /// etcd: prometheus.ExponentialBuckets(0.001, 2, 14), seconds.
    static let diskBuckets: [Double] = (0..<14).map { 0.001 * Double(1 << $0) }
    let walFsync: ValueHistogram
    let backendCommit: ValueHistogram

    private let hasLeader: Gauge
    private let isLeader: Gauge
    private let proposalsCommitted: Gauge
    private let proposalsApplied: Gauge
    private let proposalsPending: Gauge
    private let dbSize: Gauge
    private let dbSizeInUse: Gauge
    private let keysTotal: Gauge
    private let watchers: Gauge
    private let watchStreams: Gauge
    private let slowWatchers: Gauge
    private let process: (cpu: Gauge, resident: Gauge, virtual: Gauge, openFDs: Gauge, maxFDs: Gauge, start: Gauge)

    init(serverVersion: String, memberID: UInt64) {
        let r = registry
        puts = r.makeCounter(descriptor: .etcd("etcd_mvcc_put_total", "Total number of puts seen by this member."))
        deletes = r.makeCounter(descriptor: .etcd("etcd_mvcc_delete_total", "Total number of deletes seen by this member."))
        ranges = r.makeCounter(descriptor: .etcd("etcd_mvcc_range_total", "Total number of ranges seen by this member."))
        txns = r.makeCounter(descriptor: .etcd("etcd_mvcc_txn_total", "Total number of txns seen by this member."))
        watchEvents = r.makeCounter(descriptor: .etcd("etcd_debugging_mvcc_events_total", "Total number of events sent by this member."))
        leasesGranted = r.makeCounter(descriptor: .etcd("etcd_debugging_lease_granted_total", "The total number of granted leases."))
        leasesRevoked = r.makeCounter(descriptor: .etcd("etcd_debugging_lease_revoked_total", "The total number of revoked leases."))
        leasesRenewed = r.makeCounter(descriptor: .etcd("etcd_debugging_lease_renewed_total", "The number of renewed leases seen by the leader."))
        leaseTTLs = r.makeValueHistogram(descriptor: .etcd("etcd_debugging_lease_ttl_total", "Bucketed histogram of lease TTLs."), buckets: (0..<14).map { Double(1 << $0) })
        leaderChanges = r.makeCounter(descriptor: .etcd("etcd_server_leader_changes_seen_total", "The number of leader changes seen."))
        proposalsFailed = r.makeCounter(descriptor: .etcd("etcd_server_proposals_failed_total", "The total number of failed proposals seen."))
        slowApplies = r.makeCounter(descriptor: .etcd("etcd_server_slow_apply_total", "The total number of slow apply requests (likely overloaded from slow disk)."))
        heartbeatSendFailures = r.makeCounter(descriptor: .etcd("etcd_server_heartbeat_send_failures_total", "The total number of leader heartbeat send failures (likely overloaded from slow disk)."))
        readIndexesFailed = r.makeCounter(descriptor: .etcd("etcd_server_read_indexes_failed_total", "The total number of failed read indexes seen."))
        walFsync = r.makeValueHistogram(descriptor: .etcd("etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL."), buckets: Self.diskBuckets)
        backendCommit = r.makeValueHistogram(descriptor: .etcd("etcd_disk_backend_commit_duration_seconds", "The latency distributions of commit called by backend."), buckets: Self.diskBuckets)
        hasLeader = r.makeGauge(descriptor: .etcd("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not."))
        isLeader = r.makeGauge(descriptor: .etcd("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise."))
        proposalsCommitted = r.makeGauge(descriptor: .etcd("etcd_server_proposals_committed_total", "The total number of consensus proposals committed."))
        proposalsApplied = r.makeGauge(descriptor: .etcd("etcd_server_proposals_applied_total", "The total number of consensus proposals applied."))
        proposalsPending = r.makeGauge(descriptor: .etcd("etcd_server_proposals_pending", "The current number of pending proposals to commit."))
        dbSize = r.makeGauge(descriptor: .etcd("etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes."))
        dbSizeInUse = r.makeGauge(descriptor: .etcd("etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes."))
        keysTotal = r.makeGauge(descriptor: .etcd("etcd_debugging_mvcc_keys_total", "Total number of keys."))
        watchers = r.makeGauge(descriptor: .etcd("etcd_debugging_mvcc_watcher_total", "Total number of watchers."))
        watchStreams = r.makeGauge(descriptor: .etcd("etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams."))
        slowWatchers = r.makeGauge(descriptor: .etcd("etcd_debugging_mvcc_slow_watcher_total", "Total number of unsynced slow watchers."))
        r.makeGauge(descriptor: .etcd("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version."), labels: [("server_version", serverVersion)]).set(Double(1))
        r.makeGauge(descriptor: .etcd("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID."), labels: [("server_id", String(memberID, radix: 16))]).set(Double(1))
        process = (
            r.makeGauge(descriptor: .etcd("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")),
            r.makeGauge(descriptor: .etcd("process_resident_memory_bytes", "Resident memory size in bytes.")),
            r.makeGauge(descriptor: .etcd("process_virtual_memory_bytes", "Virtual memory size in bytes.")),
            r.makeGauge(descriptor: .etcd("process_open_fds", "Number of open file descriptors.")),
            r.makeGauge(descriptor: .etcd("process_max_fds", "Maximum number of open file descriptors.")),
            r.makeGauge(descriptor: .etcd("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")))
    }

    /// The gRPC call counters for the methods of `router` (made once its services are registered).
    func grpcMetrics(for router: GRPCRouter, handlingTime: Bool) -> GRPCServerMetrics {
        GRPCServerMetrics(registry: registry, methods: router.registeredMethods, handlingTime: handlingTime)
    }

    // MARK: counting (any thread)

    /// A committed batch: the KV operations of each successful request (etcd counts them in its
    /// backend transaction wrapper, on every member), and the live-key count.
    func applied(_ results: [Result<ApplyResult, EtcdError>], changes: [MVCCChange]) {
        var counts = OpCounts()
        for case .success(let result) in results {
            var one = OpCounts()
            switch result {
            case .put: one.puts = 1
            case .deleteRange: one.deletes = 1
            case .txn(let response): one.add(response)
            case .leaseGrant(let response):
                leasesGranted.increment()
                leaseTTLs.record(Double(response.ttl))
                continue
            case .leaseRevoke:
                leasesRevoked.increment()
                continue
            default: continue
            }
            counts.merge(one)
        }
        record(counts)
        liveKeys.observe(changes)
    }

    /// A read served outside the log: a Range, or a read-only Txn.
    func served(_ response: TxnResponse) {
        var one = OpCounts()
        one.add(response)
        var counts = OpCounts()
        counts.merge(one)
        record(counts)
    }

    func servedRange() {
        ranges.increment()
    }

    private func record(_ c: OpCounts) {
        if c.puts > 0 { puts.increment(by: Int64(c.puts)) }
        if c.deletes > 0 { deletes.increment(by: Int64(c.deletes)) }
        if c.ranges > 0 { ranges.increment(by: Int64(c.ranges)) }
        if c.txns > 0 { txns.increment(by: Int64(c.txns)) }
    }

    // MARK: scrape

    /// What the scrape reads from the server.
    struct State {
        var hasLeader: Bool
        var isLeader: Bool
        var committedIndex: UInt64
        var appliedIndex: UInt64
        var pendingProposals: Int
        var dbFileBytes: Int?
        var dbUsedBytes: Int?
        var clusterVersion: String?
        var liveKeys: Int?
        var watchers: (watchers: Int, streams: Int, unsynced: Int)
    }

    /// The Prometheus text exposition of every metric, gauges set from `state` first.
    func render(_ state: State) -> [UInt8] {
        hasLeader.set(Double(state.hasLeader ? 1 : 0))
        isLeader.set(Double(state.isLeader ? 1 : 0))
        proposalsCommitted.set(Double(state.committedIndex))
        proposalsApplied.set(Double(state.appliedIndex))
        proposalsPending.set(Double(state.pendingProposals))
        if let b = state.dbFileBytes { dbSize.set(Double(b)) }
        if let b = state.dbUsedBytes { dbSizeInUse.set(Double(b)) }
        if let n = state.liveKeys { keysTotal.set(Double(n)) }
        watchers.set(Double(state.watchers.watchers))
        watchStreams.set(Double(state.watchers.streams))
        slowWatchers.set(Double(state.watchers.unsynced))
        if let v = state.clusterVersion {
            // etcd labels the cluster version by major.minor.
            let majorMinor = v.split(separator: ".").prefix(2).joined(separator: ".")
            registry.makeGauge(descriptor: .etcd("etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version"), labels: [("cluster_version", majorMinor)]).set(Double(1))
        }
        let p = ProcessMetrics.read()
        if let v = p.cpuSeconds { process.cpu.set(v) }
        if let v = p.residentBytes { process.resident.set(v) }
        if let v = p.virtualBytes { process.virtual.set(v) }
        if let v = p.openFDs { process.openFDs.set(v) }
        if let v = p.maxFDs { process.maxFDs.set(v) }
        if let v = p.startTimeSeconds { process.start.set(v) }
        return registry.emitToBuffer()
    }
}

/// Operations of one request as etcd's metrics count them: puts, deletes and ranges anywhere in
/// it; a txn when the request held more than one operation.
struct OpCounts {
    var puts = 0
    var deletes = 0
    var ranges = 0
    var txns = 0

    /// The operations a txn ran (its responses name the branch taken, nested ones included).
    mutating func add(_ response: TxnResponse) {
        for op in response.responses {
            switch op.response {
            case .responseRange?: ranges += 1
            case .responsePut?: puts += 1
            case .responseDeleteRange?: deletes += 1
            case .responseTxn(let nested)?: add(nested)
            case nil: break
            }
        }
    }

    /// Adds one request's counts (`txns` from how many operations it held).
    mutating func merge(_ one: OpCounts) {
        puts += one.puts
        deletes += one.deletes
        ranges += one.ranges
        txns += one.txns + (one.puts + one.deletes + one.ranges > 1 ? 1 : 0)
    }
}

extension MetricNameDescriptor {
    /// An etcd metric: its full name as etcd spells it (no namespace or unit parts) and its help.
    static func etcd(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
