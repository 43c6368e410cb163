import EtcdServer
import Transport

/// What the command line asks for: the server configuration plus the flags that shape it
/// indirectly (TLS file names become `TLSConfiguration`s once all flags are read).
struct Options {
    var config = ServerConfig()
    var showVersion = false
    var showHelp = false
    var configFile: String?

    // Client TLS (--cert-file ...), assembled after parsing.
    var certFile = ""
    var keyFile = ""
    var trustedCAFile = ""
    var clientCertAuth = false
    var clientCRLFile = ""
    var clientCertAllowedHostname = ""
    // Peer TLS (--peer-cert-file ...).
    var peerCertFile = ""
    var peerKeyFile = ""
    var peerTrustedCAFile = ""
    var peerClientCertAuth = false
    var peerCRLFile = ""
    var peerCertAllowedCN = ""
    var peerCertAllowedHostname = ""
    var cipherSuites: [String] = []
    var listenClientURLsSet = false
    var advertiseClientURLsSet = false

    /// Builds the TLS settings from the file flags.
    mutating func finish() throws(FlagParser.FlagError) {
        if !certFile.isEmpty || !keyFile.isEmpty {
            guard !certFile.isEmpty, !keyFile.isEmpty else {
                throw FlagParser.FlagError("--cert-file and --key-file must be given together")
            }
            config.clientTLS = TLSConfiguration(
                certificateFile: certFile, keyFile: keyFile,
                trustedCAFile: trustedCAFile.isEmpty ? nil : trustedCAFile,
                clientCertAuth: clientCertAuth, crlFile: clientCRLFile.isEmpty ? nil : clientCRLFile,
                cipherSuites: cipherSuites,
                allowedHostname: clientCertAllowedHostname.isEmpty ? nil : clientCertAllowedHostname)
        } else if config.autoTLS {
            // Empty file names: the server generates a self-signed pair in the data dir.
            config.clientTLS = TLSConfiguration(
                certificateFile: "", keyFile: "",
                trustedCAFile: trustedCAFile.isEmpty ? nil : trustedCAFile,
                clientCertAuth: clientCertAuth, crlFile: clientCRLFile.isEmpty ? nil : clientCRLFile,
                cipherSuites: cipherSuites)
        }
        if !peerCertFile.isEmpty || !peerKeyFile.isEmpty {
            config.peerTLS = TLSConfiguration(
                certificateFile: peerCertFile, keyFile: peerKeyFile,
                trustedCAFile: peerTrustedCAFile.isEmpty ? nil : peerTrustedCAFile,
                clientCertAuth: peerClientCertAuth, crlFile: peerCRLFile.isEmpty ? nil : peerCRLFile,
                cipherSuites: cipherSuites,
                allowedCommonName: peerCertAllowedCN.isEmpty ? nil : peerCertAllowedCN,
                allowedHostname: peerCertAllowedHostname.isEmpty ? nil : peerCertAllowedHostname)
        }
    }
}

/// The flag table: every flag etcd 3.4/3.5 defines, spelled as etcd spells it. Flags for
/// features swetcd does not have (v2 proxy, discovery, pprof, tracing, log rotation) are accepted
/// and have no effect, as the README says, so that existing etcd command lines keep working.
enum Flags {
    typealias E = FlagParser.FlagError

    static func parser() -> FlagParser {
        var p = FlagParser()
        func string(_ name: String, _ help: String, _ set: @escaping (inout Options, String) -> Void) {
            p.add(name, .value, help) { (o: inout Options, v: String) throws(E) in set(&o, v) }
        }
        func bool(_ name: String, _ help: String, _ set: @escaping (inout Options, Bool) -> Void) {
            p.add(name, .boolean, help) { (o: inout Options, v: String) throws(E) in
                guard let b = FlagParser.parseBool(v) else { throw E("invalid boolean value \"\(v)\" for -\(name)") }
                set(&o, b)
            }
        }
        func int(_ name: String, _ help: String, _ set: @escaping (inout Options, Int) -> Void) {
            p.add(name, .value, help) { (o: inout Options, v: String) throws(E) in
                guard let n = Int(v) else { throw E("invalid value \"\(v)\" for flag -\(name): parse error") }
                set(&o, n)
            }
        }
        func urls(_ name: String, _ help: String, _ set: @escaping (inout Options, [ListenURL]) -> Void) {
            p.add(name, .value, help) { (o: inout Options, v: String) throws(E) in
                var out: [ListenURL] = []
                for part in v.split(separator: ",") where !part.isEmpty {
                    do { out.append(try ListenURL(parsing: String(part))) } catch {
                        throw E("invalid value \"\(v)\" for flag -\(name): \(error)")
                    }
                }
                set(&o, out)
            }
        }
        func list(_ name: String, _ help: String, _ set: @escaping (inout Options, [String]) -> Void) {
            p.add(name, .value, help) { (o: inout Options, v: String) throws(E) in
                set(&o, v.split(separator: ",").map(String.init).filter { !$0.isEmpty })
            }
        }
        func ignored(_ name: String, _ kind: FlagParser.Kind, _ help: String) {
            p.add(name, kind, help + " (accepted; no effect in swetcd)") { (_: inout Options, _: String) throws(E) in }
        }

        // Member
        string("name", "Human-readable name for this member.") { $0.config.name = $1 }
        string("data-dir", "Path to the data directory.") { $0.config.dataDir = $1 }
        string("wal-dir", "Path to the dedicated wal directory.") { $0.config.walDir = $1 }
        p.add("snapshot-count", .value, "Number of committed transactions to trigger a snapshot to disk.") { (o: inout Options, v: String) throws(E) in
            guard let n = UInt64(v) else { throw E("invalid value \"\(v)\" for flag -snapshot-count: parse error") }
            o.config.snapshotCount = n
        }
        int("heartbeat-interval", "Time (in milliseconds) of a heartbeat interval.") { $0.config.heartbeatIntervalMilliseconds = $1 }
        int("election-timeout", "Time (in milliseconds) for an election to timeout.") { $0.config.electionTimeoutMilliseconds = $1 }
        ignored("initial-election-tick-advance", .boolean, "Whether to fast-forward initial election ticks on boot for faster election.")
        urls("listen-peer-urls", "List of URLs to listen on for peer traffic.") { $0.config.listenPeerURLs = $1 }
        urls("listen-client-urls", "List of URLs to listen on for client traffic.") {
            $0.config.listenClientURLs = $1
            $0.listenClientURLsSet = true
        }
        int("max-snapshots", "Maximum number of snapshot files to retain (0 is unlimited).") { $0.config.maxSnapshots = $1 }
        int("max-wals", "Maximum number of wal files to retain (0 is unlimited).") { $0.config.maxWALs = $1 }
        p.add("quota-backend-bytes", .value, "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).") { (o: inout Options, v: String) throws(E) in
            guard let n = Int64(v) else { throw E("invalid value \"\(v)\" for flag -quota-backend-bytes: parse error") }
            o.config.quotaBackendBytes = n
        }
        ignored("backend-bbolt-freelist-type", .value, "BackendFreelistType specifies the type of freelist that boltdb backend uses.")
        ignored("backend-batch-interval", .value, "BackendBatchInterval is the maximum time before commit the backend transaction.")
        ignored("backend-batch-limit", .value, "BackendBatchLimit is the maximum operations before commit the backend transaction.")
        int("max-txn-ops", "Maximum number of operations permitted in a transaction.") { $0.config.maxTxnOps = $1 }
        int("max-request-bytes", "Maximum client request size in bytes the server will accept.") { $0.config.maxRequestBytes = $1 }
        p.add("max-concurrent-streams", .value, "Maximum concurrent streams that each client can open at a time.") { (o: inout Options, v: String) throws(E) in
            guard let n = UInt32(v) else { throw E("invalid value \"\(v)\" for flag -max-concurrent-streams: parse error") }
            o.config.maxConcurrentStreams = n
        }
        ignored("grpc-keepalive-min-time", .value, "Minimum interval duration that a client should wait before pinging server.")
        ignored("grpc-keepalive-interval", .value, "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).")
        ignored("grpc-keepalive-timeout", .value, "Additional duration of wait before closing a non-responsive connection (0 to disable).")
        ignored("socket-reuse-port", .boolean, "Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.")
        ignored("socket-reuse-address", .boolean, "Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.")

        // Clustering
        list("initial-advertise-peer-urls", "List of this member's peer URLs to advertise to the rest of the cluster.") { $0.config.initialAdvertisePeerURLs = $1 }
        p.add("initial-cluster", .value, "Initial cluster configuration for bootstrapping.") { (o: inout Options, v: String) throws(E) in
            var members: [(String, String)] = []
            for part in v.split(separator: ",") where !part.isEmpty {
                let kv = part.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw E("invalid value \"\(v)\" for flag -initial-cluster: missing '=' in \"\(part)\"") }
                members.append((String(kv[0]), String(kv[1])))
            }
            o.config.initialCluster = members
        }
        p.add("initial-cluster-state", .value, "Initial cluster state ('new' or 'existing').") { (o: inout Options, v: String) throws(E) in
            switch v {
            case "new": o.config.initialClusterStateNew = true
            case "existing": o.config.initialClusterStateNew = false
            default: throw E("invalid value \"\(v)\" for flag -initial-cluster-state: valid values are \"new\", \"existing\"")
            }
        }
        string("initial-cluster-token", "Initial cluster token for the etcd cluster during bootstrap.") { $0.config.initialClusterToken = $1 }
        list("advertise-client-urls", "List of this member's client URLs to advertise to the public.") {
            $0.config.advertiseClientURLs = $1
            $0.advertiseClientURLsSet = true
        }
        ignored("discovery", .value, "Discovery URL used to bootstrap the cluster.")
        ignored("discovery-fallback", .value, "Expected behavior ('exit' or 'proxy') when discovery services fails.")
        ignored("discovery-proxy", .value, "HTTP proxy to use for traffic to discovery service.")
        ignored("discovery-srv", .value, "DNS domain used to bootstrap initial cluster.")
        ignored("discovery-srv-name", .value, "Service name to query when using DNS discovery.")
        bool("strict-reconfig-check", "Reject reconfiguration requests that would cause quorum loss.") { $0.config.strictReconfigCheck = $1 }
        bool("pre-vote", "Enable to run an additional Raft election phase.") { $0.config.preVote = $1 }
        string("auto-compaction-retention", "Auto compaction retention length. 0 means disable auto compaction.") { $0.config.autoCompactionRetention = $1 }
        string("auto-compaction-mode", "Interpret 'auto-compaction-retention' one of: periodic|revision.") { $0.config.autoCompactionMode = $1 }
        bool("enable-v2", "Accept etcd V2 client requests.") { $0.config.enableV2 = $1 }
        ignored("v2-deprecation", .value, "v2store deprecation stage.")

        // Security
        string("cert-file", "Path to the client server TLS cert file.") { $0.certFile = $1 }
        string("key-file", "Path to the client server TLS key file.") { $0.keyFile = $1 }
        bool("client-cert-auth", "Enable client cert authentication.") { $0.clientCertAuth = $1 }
        string("client-crl-file", "Path to the client certificate revocation list file.") { $0.clientCRLFile = $1 }
        string("client-cert-allowed-hostname", "Allowed TLS hostname for client cert authentication.") { $0.clientCertAllowedHostname = $1 }
        string("trusted-ca-file", "Path to the client server TLS trusted CA cert file.") { $0.trustedCAFile = $1 }
        bool("auto-tls", "Client TLS using generated certificates.") { $0.config.autoTLS = $1 }
        string("peer-cert-file", "Path to the peer server TLS cert file.") { $0.peerCertFile = $1 }
        string("peer-key-file", "Path to the peer server TLS key file.") { $0.peerKeyFile = $1 }
        bool("peer-client-cert-auth", "Enable peer client cert authentication.") { $0.peerClientCertAuth = $1 }
        string("peer-trusted-ca-file", "Path to the peer server TLS trusted CA file.") { $0.peerTrustedCAFile = $1 }
        string("peer-cert-allowed-cn", "Allowed CN for inter peer authentication.") { $0.peerCertAllowedCN = $1 }
        string("peer-cert-allowed-hostname", "Allowed TLS hostname for inter peer authentication.") { $0.peerCertAllowedHostname = $1 }
        bool("peer-auto-tls", "Peer TLS using generated certificates") { $0.config.peerAutoTLS = $1 }
        ignored("self-signed-cert-validity", .value, "The validity period of the client and peer certificates, unit is year.")
        string("peer-crl-file", "Path to the peer certificate revocation list file.") { $0.peerCRLFile = $1 }
        list("cipher-suites", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).") { $0.cipherSuites = $1 }
        ignored("cors", .value, "Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).")
        ignored("host-whitelist", .value, "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).")

        // Auth
        string("auth-token", "Specify auth token specific options.") { $0.config.authToken = $1 }
        int("bcrypt-cost", "Specify bcrypt algorithm cost factor for auth password hashing.") { $0.config.bcryptCost = $1 }
        int("auth-token-ttl", "The lifetime in seconds of the auth token.") { $0.config.authTokenTTLSeconds = $1 }

        // Profiling, monitoring, logging
        ignored("enable-pprof", .boolean, "Enable runtime profiling data via HTTP server.")
        string("metrics", "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.") { $0.config.metrics = $1 }
        urls("listen-metrics-urls", "List of URLs to listen on for the metrics and health endpoints.") { $0.config.listenMetricsURLs = $1 }
        ignored("logger", .value, "Currently only supports 'zap' for structured logging.")
        ignored("log-outputs", .value, "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd.")
        p.add("log-level", .value, "Configures log level. Only supports debug, info, warn, error, panic, or fatal.") { (o: inout Options, v: String) throws(E) in
            guard ["debug", "info", "warn", "error", "panic", "fatal"].contains(v) else {
                throw E("unknown log level \"\(v)\"")
            }
            o.config.logLevel = v
        }
        bool("debug", "Enable debug-level logging for etcd (deprecated: use --log-level=debug).") { o, b in if b { o.config.logLevel = "debug" } }
        ignored("log-package-levels", .value, "Specify a particular log level for each etcd package.")
        ignored("enable-log-rotation", .boolean, "Enable log rotation of a single log-outputs file target.")
        ignored("log-rotation-config-json", .value, "Configures log rotation if enabled with a JSON logger config.")

        // v2 proxy (not supported; accepted so that "off" works)
        ignored("proxy", .value, "Valid values include 'off', 'readonly', 'on'.")
        ignored("proxy-failure-wait", .value, "Time (in milliseconds) an endpoint will be held in a failed state.")
        ignored("proxy-refresh-interval", .value, "Time (in milliseconds) of the endpoints refresh interval.")
        ignored("proxy-dial-timeout", .value, "Time (in milliseconds) for a dial to timeout.")
        ignored("proxy-write-timeout", .value, "Time (in milliseconds) for a write to timeout.")
        ignored("proxy-read-timeout", .value, "Time (in milliseconds) for a read to timeout.")

        // Experimental
        bool("experimental-initial-corrupt-check", "Enable to check data corruption before serving any client/peer traffic.") { $0.config.experimentalInitialCorruptCheck = $1 }
        ignored("experimental-corrupt-check-time", .value, "Duration of time between cluster corruption check passes.")
        ignored("experimental-enable-v2v3", .value, "v3 prefix for serving emulated v2 state.")
        bool("experimental-enable-lease-checkpoint", "Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases.") { $0.config.experimentalEnableLeaseCheckpoint = $1 }
        ignored("experimental-enable-lease-checkpoint-persist", .boolean, "Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases.")
        ignored("experimental-compaction-batch-limit", .value, "Sets the maximum revisions deleted in each compaction batch.")
        ignored("experimental-peer-skip-client-san-verification", .boolean, "Skip verification of SAN field in client certificate for peer connections.")
        p.add("experimental-watch-progress-notify-interval", .value, "Duration of periodic watch progress notifications.") { (o: inout Options, v: String) throws(E) in
            guard let ms = GoDuration.milliseconds(v) else { throw E("invalid value \"\(v)\" for flag -experimental-watch-progress-notify-interval: parse error") }
            o.config.experimentalWatchProgressNotifyIntervalMilliseconds = ms
        }
        ignored("experimental-warning-apply-duration", .value, "Time duration after which a warning is generated if request takes more time.")
        ignored("experimental-txn-mode-write-with-shared-buffer", .boolean, "Enable the write transaction to use a shared buffer in its readonly check operations.")
        ignored("experimental-bootstrap-defrag-threshold-megabytes", .value, "Enable the defrag during etcd server bootstrap on condition that it will free at least the provided threshold of disk space.")
        ignored("experimental-backend-bbolt-freelist-type", .value, "ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses.")
        ignored("experimental-enable-distributed-tracing", .boolean, "Enable experimental distributed tracing using OpenTelemetry Tracing.")
        ignored("experimental-distributed-tracing-address", .value, "Address for distributed tracing used for OpenTelemetry Tracing.")
        ignored("experimental-distributed-tracing-service-name", .value, "Configures service name for distributed tracing.")
        ignored("experimental-distributed-tracing-instance-id", .value, "Configures service instance ID for distributed tracing.")
        ignored("experimental-downgrade-check-time", .value, "Duration of time between two downgrade status check.")
        ignored("experimental-memory-mlock", .boolean, "Enable to enforce etcd pages (in particular bbolt) to stay in RAM.")
        ignored("experimental-snapshot-catchup-entries", .value, "Number of entries for a slow follower to catch up after compacting the raft storage entries.")
        ignored("experimental-max-learners", .value, "Sets the maximum number of learners that can be available in the cluster membership.")
        ignored("experimental-stop-grpc-service-on-defrag", .boolean, "Enable etcd gRPC service to stop serving client requests on defragmentation.")
        bool("force-new-cluster", "Force to create a new one member cluster.") { $0.config.forceNewCluster = $1 }
        bool("unsafe-no-fsync", "Disables fsync, unsafe, will cause data loss.") { $0.config.unsafeNoFsync = $1 }

        // Command
        bool("version", "Print the version and exit.") { $0.showVersion = $1 }
        bool("h", "Show help.") { $0.showHelp = $1 }
        bool("help", "Show help.") { $0.showHelp = $1 }
        string("config-file", "Path to the server configuration file.") { $0.configFile = $1 }
        return p
    }
}

/// Go's `time.ParseDuration` for the forms etcd users write ("10m", "1.5s", "100ms", "1h30m").
enum GoDuration {
    static func milliseconds(_ text: String) -> Int? {
        if text == "0" { return 0 }
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !$0.isNumber && $0 != "." }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1e-6
            case "us", "µs": scale = 1e-3
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            default: return nil
            }
            total += value * scale
        }
        return Int(total)
    }
}
