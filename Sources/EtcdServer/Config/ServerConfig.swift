import Transport

/// Everything the server is configured with, in etcd's terms. The `swetcd` executable fills it
/// from flags, `ETCD_*` environment variables or a config file; tests build it directly.
public struct ServerConfig: Sendable {
    public var name = "default"
    /// `--data-dir`; empty means `<name>.etcd`, as etcd does.
    public var dataDir = ""
    /// `--wal-dir`; empty means `<data-dir>/member/wal`.
    public var walDir = ""
    public var snapshotCount: UInt64 = 100_000
    public var heartbeatIntervalMilliseconds = 100
    public var electionTimeoutMilliseconds = 1000
    /// `--pre-vote` (etcd 3.5's default: on).
    public var preVote = true
    /// `--strict-reconfig-check`: refuse membership changes that would leave fewer started
    /// members than a quorum, or that a member not connected to all peers proposes.
    public var strictReconfigCheck = true
    /// `--metrics extensive`: gRPC handling-time histograms as well.
    public var metricsExtensive = false
    /// `--initial-election-tick-advance`: fast-forward the election ticks once peers are
    /// connected, so a fresh cluster elects sooner (etcd's `adjustTicks`).
    public var initialElectionTickAdvance = true
    /// `--experimental-snapshot-catchup-entries`: raft log entries kept behind the applied index
    /// for a slow follower after a snapshot (etcd's default 5000).
    public var snapshotCatchUpEntries: UInt64 = 5000
    /// `--experimental-initial-corrupt-check`: a restarting member compares its HashKV with its
    /// peers' before it runs (see `CorruptionChecker`).
    public var initialCorruptCheck = false
    /// `--experimental-corrupt-check-time` (0: off): the leader's periodic hash comparison.
    public var corruptCheckMilliseconds = 0
    /// `--experimental-compact-hash-check-enabled` / `-time`: the leader compares compaction hashes.
    public var compactHashCheckEnabled = false
    public var compactHashCheckMilliseconds = 60_000
    public var listenClientURLs: [ListenURL] = [ListenURL(scheme: .http, host: "localhost", port: 2379)]
    public var advertiseClientURLs: [String] = ["http://localhost:2379"]
    public var listenPeerURLs: [ListenURL] = [ListenURL(scheme: .http, host: "localhost", port: 2380)]
    public var initialAdvertisePeerURLs: [String] = ["http://localhost:2380"]
    /// `--initial-cluster` as (name, peer URL) pairs, in the order given.
    public var initialCluster: [(name: String, peerURL: String)] = [("default", "http://localhost:2380")]
    public var initialClusterStateNew = true
    public var initialClusterToken = "etcd-cluster"
    public var maxSnapshots = 5
    public var maxWALs = 5
    /// `--quota-backend-bytes`; 0 means etcd's default of 2 GiB.
    public var quotaBackendBytes: Int64 = 0
    public var maxTxnOps = 128
    public var maxRequestBytes = 1_572_864
    public var maxConcurrentStreams: UInt32? = nil
    public var clientTLS: TLSConfiguration? = nil
    public var autoTLS = false
    public var peerTLS: TLSConfiguration? = nil
    /// `--peer-client-cert-file` / `--peer-client-key-file`: what this member presents when it
    /// dials a peer (default: the peer certificate).
    public var peerClientCertFile = ""
    public var peerClientKeyFile = ""
    public var peerAutoTLS = false
    /// `--auto-compaction-mode` / `--auto-compaction-retention`; nil: off (etcd's default).
    public var autoCompaction: AutoCompaction? = nil
    /// `--listen-metrics-urls`: HTTP only (/health, /livez, /readyz, /version).
    public var listenMetricsURLs: [ListenURL] = []
    /// `--listen-client-http-urls`: HTTP only; when set, the client URLs serve gRPC only.
    public var listenClientHTTPURLs: [ListenURL] = []
    public var logLevel = "info"
    public var experimentalWatchProgressNotifyIntervalMilliseconds = 600_000
    /// `--experimental-compaction-batch-limit`: keys examined per compaction batch.
    public var compactionBatchLimit = 1000
    /// `--experimental-bootstrap-defrag-threshold-megabytes`: defragment at start-up when that
    /// much would be freed (0: never).
    public var bootstrapDefragThresholdMegabytes: UInt = 0
    /// `--experimental-stop-grpc-service-on-defrag`: grpc.health.v1 answers NOT_SERVING while
    /// a defragmentation runs.
    public var stopGRPCServiceOnDefrag = false
    /// `--unsafe-no-fsync`: the WAL and the backend are never fsynced (data loss on power loss).
    public var unsafeNoFsync = false
    /// `--force-new-cluster`: a member with data restarts as the only member of its cluster
    /// (`ForceNewCluster`). Ignored when there is no data yet, as in etcd.
    public var forceNewCluster = false

    public init() {}

    /// etcd's default quota when `--quota-backend-bytes` is 0.
    public static let defaultQuotaBackendBytes: Int64 = 2 * 1024 * 1024 * 1024
    /// gRPC accepts this much more than `--max-request-bytes` so that etcd itself can answer
    /// "request is too large" for requests just over the limit (etcd's `grpcOverheadBytes`).
    public static let grpcOverheadBytes = 512 * 1024

    public var effectiveDataDir: String { dataDir.isEmpty ? "\(name).etcd" : dataDir }
    public var effectiveQuotaBackendBytes: Int64 { quotaBackendBytes <= 0 ? Self.defaultQuotaBackendBytes : quotaBackendBytes }
    public var electionTicks: Int { max(1, electionTimeoutMilliseconds / max(1, heartbeatIntervalMilliseconds)) }
}
