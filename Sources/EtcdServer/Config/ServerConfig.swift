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
    public var peerAutoTLS = false
    public var strictReconfigCheck = true
    public var preVote = false
    public var enableV2 = false
    public var autoCompactionRetention = "0"
    public var autoCompactionMode = "periodic"
    public var authToken = "simple"
    public var bcryptCost = 10
    public var authTokenTTLSeconds = 300
    public var listenMetricsURLs: [ListenURL] = []
    public var metrics = "basic"
    public var logLevel = "info"
    public var experimentalInitialCorruptCheck = false
    public var experimentalWatchProgressNotifyIntervalMilliseconds = 600_000
    public var experimentalEnableLeaseCheckpoint = false
    public var forceNewCluster = false
    public var unsafeNoFsync = false

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
