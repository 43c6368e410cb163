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
    var peerSkipClientSANVerification = false
    var cipherSuites: [String] = []
    var listenClientURLsSet = false
    var advertiseClientURLsSet = false
    var tlsMinVersion = TLSVersion.tls12
    var tlsMaxVersion: TLSVersion? = nil
    var autoCompactionMode = "periodic"
    var autoCompactionRetention = "0"
    /// `--log-outputs stdout`.
    var logToStdout = false
    /// Logged as warnings once logging is up (`warnOnly` flags).
    var startupWarnings: [String] = []

    /// Builds the TLS settings from the file flags, and the settings that combine flags.
    mutating func finish() throws(FlagParser.FlagError) {
        if let max = tlsMaxVersion, max < tlsMinVersion {
            throw FlagParser.FlagError("min version (\(tlsMinVersion)) is greater than max version (\(max))")
        }
        do {
            config.autoCompaction = try AutoCompaction(mode: autoCompactionMode, retention: autoCompactionRetention)
        } catch {
            throw FlagParser.FlagError("\(error)")
        }
        defer {
            config.clientTLS?.minVersion = tlsMinVersion
            config.clientTLS?.maxVersion = tlsMaxVersion
            config.peerTLS?.minVersion = tlsMinVersion
            config.peerTLS?.maxVersion = tlsMaxVersion
        }
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
                cipherSuites: cipherSuites,
                allowedHostname: clientCertAllowedHostname.isEmpty ? nil : clientCertAllowedHostname)
        }
        if !peerCertFile.isEmpty || !peerKeyFile.isEmpty {
            config.peerTLS = TLSConfiguration(
                certificateFile: peerCertFile, keyFile: peerKeyFile,
                trustedCAFile: peerTrustedCAFile.isEmpty ? nil : peerTrustedCAFile,
                clientCertAuth: peerClientCertAuth, crlFile: peerCRLFile.isEmpty ? nil : peerCRLFile,
                cipherSuites: cipherSuites,
                allowedCommonName: peerCertAllowedCN.isEmpty ? nil : peerCertAllowedCN,
                allowedHostname: peerCertAllowedHostname.isEmpty ? nil : peerCertAllowedHostname,
                endpoint: .peer)
            config.peerTLS?.verifiesClientSubjectAltNames = !peerSkipClientSANVerification
        }
    }
}

/// The flag table: every flag etcd 3.4/3.5 defines, spelled as etcd spells it. Each one works,
/// or is for a feature swetcd does not have (`unsupported`: accepted at etcd's default, which
/// asks for nothing, and refused at start with the reason for any other value), or is a setting
/// etcd reads only when another feature is on (`unused`: checked as etcd checks it), so that
/// existing etcd command lines keep working and none is silently ignored.
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
        /// A flag for something swetcd does not do: accepted at etcd's default value (which asks
        /// for nothing), refused at start with `reason` for any other value. No flag is taken
        /// and silently ignored.
        func unsupported(_ name: String, _ kind: FlagParser.Kind, default defaultValue: String, _ reason: String, _ help: String) {
            p.add(name, kind, help + " (swetcd: only \(defaultValue.isEmpty ? "empty" : defaultValue); \(reason))") { (_: inout Options, v: String) throws(E) in
                guard !FlagValue.same(v, defaultValue, kind: kind) else { return }
                throw E("--\(name)=\(v) is not supported by swetcd: \(reason) (leave it out, or give etcd's default \(defaultValue.isEmpty ? "\"\"" : defaultValue))")
            }
        }
        /// The flags etcd's own sample configuration (`etcd.conf.yml.sample`) turns on for
        /// features swetcd does not serve: refusing them would refuse that file, so a non-default
        /// value is accepted and the start-up log says, as a warning, that it has no effect.
        func warnOnly(_ name: String, default defaultValue: String, _ reason: String, _ help: String) {
            p.add(name, .boolean, help + " (swetcd: \(reason); a warning at start if set)") { (o: inout Options, v: String) throws(E) in
                guard !FlagValue.same(v, defaultValue, kind: .boolean) else { return }
                o.startupWarnings.append("--\(name)=\(v) has no effect in swetcd: \(reason)")
            }
        }
        /// A setting etcd itself reads only when another flag (or a state swetcd never enters)
        /// asks for it: checked like etcd checks it, with no effect, as in etcd.
        func unused(_ name: String, _ help: String, _ note: String, check: @escaping (String) -> Bool) {
            p.add(name, .value, help + " (swetcd: \(note))") { (_: inout Options, v: String) throws(E) in
                guard check(v) else { throw E("invalid value \"\(v)\" for flag -\(name): parse error") }
            }
        }
        let isDuration: (String) -> Bool = { GoDuration.milliseconds($0) != nil }

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
        bool("initial-election-tick-advance", "Whether to fast-forward initial election ticks on boot for faster election.") { $0.config.initialElectionTickAdvance = $1 }
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
        unsupported("backend-bbolt-freelist-type", .value, default: "map", "the backend is LMDB, not bbolt", "BackendFreelistType specifies the type of freelist that boltdb backend uses.")
        unsupported("backend-batch-interval", .value, default: "0", "every apply batch commits at once (there is no batch interval)", "BackendBatchInterval is the maximum time before commit the backend transaction.")
        unsupported("backend-batch-limit", .value, default: "0", "every apply batch commits at once (there is no batch limit)", "BackendBatchLimit is the maximum operations before commit the backend transaction.")
        int("max-txn-ops", "Maximum number of operations permitted in a transaction.") { $0.config.maxTxnOps = $1 }
        int("max-request-bytes", "Maximum client request size in bytes the server will accept.") { $0.config.maxRequestBytes = $1 }
        p.add("max-concurrent-streams", .value, "Maximum concurrent streams that each client can open at a time.") { (o: inout Options, v: String) throws(E) in
            guard let n = UInt32(v) else { throw E("invalid value \"\(v)\" for flag -max-concurrent-streams: parse error") }
            o.config.maxConcurrentStreams = n
        }
        unsupported("grpc-keepalive-min-time", .value, default: "5s", "client pings are answered at any rate; no minimum is enforced", "Minimum interval duration that a client should wait before pinging server.")
        unsupported("grpc-keepalive-interval", .value, default: "2h0m0s", "the server does not ping clients", "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).")
        unsupported("grpc-keepalive-timeout", .value, default: "20s", "the server does not ping clients", "Additional duration of wait before closing a non-responsive connection (0 to disable).")
        unsupported("socket-reuse-port", .boolean, default: "false", "listeners do not set SO_REUSEPORT", "Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.")
        unsupported("socket-reuse-address", .boolean, default: "false", "listeners do not set SO_REUSEADDR", "Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.")

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
        unsupported("discovery", .value, default: "", "discovery is not implemented; use --initial-cluster", "Discovery URL used to bootstrap the cluster.")
        unsupported("discovery-fallback", .value, default: "proxy", "discovery is not implemented; use --initial-cluster", "Expected behavior ('exit' or 'proxy') when discovery services fails.")
        unsupported("discovery-proxy", .value, default: "", "discovery is not implemented; use --initial-cluster", "HTTP proxy to use for traffic to discovery service.")
        unsupported("discovery-srv", .value, default: "", "DNS discovery is not implemented; use --initial-cluster", "DNS domain used to bootstrap initial cluster.")
        unsupported("discovery-srv-name", .value, default: "", "DNS discovery is not implemented; use --initial-cluster", "Service name to query when using DNS discovery.")
        bool("strict-reconfig-check", "Reject reconfiguration requests that would cause quorum loss.") { $0.config.strictReconfigCheck = $1 }
        bool("pre-vote", "Enable to run an additional Raft election phase.") { $0.config.preVote = $1 }
        string("auto-compaction-retention", "Auto compaction retention length. 0 means disable auto compaction.") { $0.autoCompactionRetention = $1 }
        p.add("auto-compaction-mode", .value, "Interpret 'auto-compaction-retention' one of: periodic|revision.") { (o: inout Options, v: String) throws(E) in
            guard v == "periodic" || v == "revision" else { throw E("unknown auto-compaction-mode \"\(v)\"") }
            o.autoCompactionMode = v
        }
        warnOnly("enable-v2", default: "false", "the v2 API is not served", "Accept etcd V2 client requests.")
        p.add("v2-deprecation", .value, "v2store deprecation stage (swetcd has no v2 store: every stage holds).") { (_: inout Options, v: String) throws(E) in
            guard ["not-yet", "write-only", "write-only-drop-data", "gone"].contains(v) else {
                throw E("invalid value \"\(v)\" for flag -v2-deprecation: invalid value for v2-deprecation")
            }
        }

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
        string("peer-client-cert-file", "Path to an explicit peer client TLS cert file otherwise peer cert file will be used when client auth is required.") { $0.config.peerClientCertFile = $1 }
        string("peer-client-key-file", "Path to an explicit peer client TLS key file otherwise peer key file will be used when client auth is required.") { $0.config.peerClientKeyFile = $1 }
        unsupported("client-cert-file", .value, default: "", "swetcd never dials its own client port", "Path to an explicit peer client TLS cert file otherwise cert file will be used when client auth is required.")
        unsupported("client-key-file", .value, default: "", "swetcd never dials its own client port", "Path to an explicit peer client TLS key file otherwise key file will be used when client auth is required.")
        p.add("tls-min-version", .value, "Minimum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3.") { (o: inout Options, v: String) throws(E) in
            guard let version = TLSVersion(flag: v) else { throw E("invalid value \"\(v)\" for flag -tls-min-version: unexpected TLS version \(v) (must be one of: TLS1.2, TLS1.3)") }
            o.tlsMinVersion = version
        }
        p.add("tls-max-version", .value, "Maximum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3 (empty defers to Go).") { (o: inout Options, v: String) throws(E) in
            if v.isEmpty { o.tlsMaxVersion = nil; return }
            guard let version = TLSVersion(flag: v) else { throw E("invalid value \"\(v)\" for flag -tls-max-version: unexpected TLS version \(v) (must be one of: TLS1.2, TLS1.3)") }
            o.tlsMaxVersion = version
        }
        unsupported("self-signed-cert-validity", .value, default: "1", "--auto-tls certificates are valid for one year", "The validity period of the client and peer certificates, unit is year.")
        string("peer-crl-file", "Path to the peer certificate revocation list file.") { $0.peerCRLFile = $1 }
        list("cipher-suites", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).") { $0.cipherSuites = $1 }
        unsupported("cors", .value, default: "", "CORS headers are not sent (there is no JSON gateway yet)", "Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).")
        unsupported("host-whitelist", .value, default: "", "every Host header is accepted", "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).")

        // Auth
        unsupported("auth-token", .value, default: "simple", "authentication is not implemented yet", "Specify auth token specific options.")
        unsupported("bcrypt-cost", .value, default: "10", "authentication is not implemented yet", "Specify bcrypt algorithm cost factor for auth password hashing.")
        unsupported("auth-token-ttl", .value, default: "300", "authentication is not implemented yet", "The lifetime in seconds of the auth token.")

        // Profiling, monitoring, logging
        warnOnly("enable-pprof", default: "false", "there is no Go runtime to profile; /debug/pprof is not served", "Enable runtime profiling data via HTTP server.")
        p.add("metrics", .value, "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.") { (o: inout Options, v: String) throws(E) in
            switch v {
            case "basic": o.config.metricsExtensive = false
            case "extensive": o.config.metricsExtensive = true
            default: throw E("invalid value \"\(v)\" for flag -metrics: valid values are \"basic\", \"extensive\"")
            }
        }
        urls("listen-metrics-urls", "List of URLs to listen on for the metrics and health endpoints.") { $0.config.listenMetricsURLs = $1 }
        urls("listen-client-http-urls", "List of URLs to listen on for http only client traffic. Enabling this flag removes http services from --listen-client-urls.") { $0.config.listenClientHTTPURLs = $1 }
        unsupported("logger", .value, default: "zap", "logs are always JSON lines shaped like zap's", "Currently only supports 'zap' for structured logging.")
        p.add("log-outputs", .value, "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd.") { (o: inout Options, v: String) throws(E) in
            switch v {
            case "default", "stderr": o.logToStdout = false
            case "stdout": o.logToStdout = true
            default: throw E("--log-outputs=\(v) is not supported by swetcd: logs go to stderr (default) or stdout")
            }
        }
        p.add("log-level", .value, "Configures log level. Only supports debug, info, warn, error, panic, or fatal.") { (o: inout Options, v: String) throws(E) in
            guard ["debug", "info", "warn", "error", "panic", "fatal"].contains(v) else {
                throw E("unknown log level \"\(v)\"")
            }
            o.config.logLevel = v
        }
        bool("debug", "Enable debug-level logging for etcd (deprecated: use --log-level=debug).") { o, b in if b { o.config.logLevel = "debug" } }
        unsupported("log-package-levels", .value, default: "", "there is one log level (--log-level)", "Specify a particular log level for each etcd package.")
        unsupported("enable-log-rotation", .boolean, default: "false", "logs go to stderr or stdout, which are not rotated", "Enable log rotation of a single log-outputs file target.")
        p.add("log-rotation-config-json", .value, "Configures log rotation if enabled with a JSON logger config (as in etcd, unused without --enable-log-rotation).") { (_: inout Options, _: String) throws(E) in }

        // v2 proxy: not supported; "off" is the default, and the timings (as in etcd) only
        // matter with a proxy.
        unsupported("proxy", .value, default: "off", "the v2 proxy is not implemented", "Valid values include 'off', 'readonly', 'on'.")
        for (name, help) in [("proxy-failure-wait", "Time (in milliseconds) an endpoint will be held in a failed state."),
                             ("proxy-refresh-interval", "Time (in milliseconds) of the endpoints refresh interval."),
                             ("proxy-dial-timeout", "Time (in milliseconds) for a dial to timeout."),
                             ("proxy-write-timeout", "Time (in milliseconds) for a write to timeout."),
                             ("proxy-read-timeout", "Time (in milliseconds) for a read to timeout.")] {
            p.add(name, .value, help + " (as in etcd, unused without --proxy)") { (_: inout Options, v: String) throws(E) in
                guard UInt(v) != nil else { throw E("invalid value \"\(v)\" for flag -\(name): parse error") }
            }
        }

        // Experimental
        bool("experimental-initial-corrupt-check", "Enable to check data corruption before serving any client/peer traffic.") { $0.config.initialCorruptCheck = $1 }
        p.add("experimental-corrupt-check-time", .value, "Duration of time between cluster corruption check passes.") { (o: inout Options, v: String) throws(E) in
            guard let ms = GoDuration.milliseconds(v), ms >= 0 else { throw E("invalid value \"\(v)\" for flag -experimental-corrupt-check-time: parse error") }
            o.config.corruptCheckMilliseconds = ms
        }
        bool("experimental-compact-hash-check-enabled", "Enable leader to periodically check followers compaction hashes.") { $0.config.compactHashCheckEnabled = $1 }
        p.add("experimental-compact-hash-check-time", .value, "Duration of time between leader checks followers compaction hashes.") { (o: inout Options, v: String) throws(E) in
            guard let ms = GoDuration.milliseconds(v), ms > 0 else { throw E("invalid value \"\(v)\" for flag -experimental-compact-hash-check-time: parse error") }
            o.config.compactHashCheckMilliseconds = ms
        }
        unsupported("experimental-enable-v2v3", .value, default: "", "the v2 API is not implemented", "v3 prefix for serving emulated v2 state.")
        unsupported("experimental-enable-lease-checkpoint", .boolean, default: "false", "lease TTLs are not checkpointed (they restart after a restart, as etcd's do without checkpoints)", "Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases.")
        unsupported("experimental-enable-lease-checkpoint-persist", .boolean, default: "false", "lease TTLs are not checkpointed", "Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases.")
        p.add("experimental-compaction-batch-limit", .value, "Sets the maximum revisions deleted in each compaction batch.") { (o: inout Options, v: String) throws(E) in
            guard let n = Int(v), n > 0 else { throw E("invalid value \"\(v)\" for flag -experimental-compaction-batch-limit: parse error") }
            o.config.compactionBatchLimit = n
        }
        unsupported("experimental-compaction-sleep-interval", .value, default: "10ms", "a compaction runs in one backend transaction, without sleeps", "Sets the sleep interval between each compaction batch.")
        bool("experimental-peer-skip-client-san-verification", "Skip verification of SAN field in client certificate for peer connections.") { $0.peerSkipClientSANVerification = $1 }
        p.add("experimental-watch-progress-notify-interval", .value, "Duration of periodic watch progress notifications.") { (o: inout Options, v: String) throws(E) in
            guard let ms = GoDuration.milliseconds(v) else { throw E("invalid value \"\(v)\" for flag -experimental-watch-progress-notify-interval: parse error") }
            o.config.experimentalWatchProgressNotifyIntervalMilliseconds = ms
        }
        unsupported("experimental-warning-apply-duration", .value, default: "100ms", "slow applies are not logged", "Time duration after which a warning is generated if request takes more time.")
        // An internal buffering choice of etcd's backend with no effect on what clients see.
        p.add("experimental-txn-mode-write-with-shared-buffer", .boolean, "Enable the write transaction to use a shared buffer in its readonly check operations (swetcd: no such buffer; either value).") { (_: inout Options, _: String) throws(E) in }
        p.add("experimental-bootstrap-defrag-threshold-megabytes", .value, "Enable the defrag during etcd server bootstrap on condition that it will free at least the provided threshold of disk space.") { (o: inout Options, v: String) throws(E) in
            guard let n = UInt(v) else { throw E("invalid value \"\(v)\" for flag -experimental-bootstrap-defrag-threshold-megabytes: parse error") }
            o.config.bootstrapDefragThresholdMegabytes = n
        }
        unsupported("experimental-backend-bbolt-freelist-type", .value, default: "map", "the backend is LMDB, not bbolt", "ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses.")
        unsupported("experimental-enable-distributed-tracing", .boolean, default: "false", "tracing is not implemented", "Enable experimental distributed tracing using OpenTelemetry Tracing.")
        // As in etcd, the tracing settings are only read with tracing on.
        for (name, help) in [("experimental-distributed-tracing-address", "Address for distributed tracing used for OpenTelemetry Tracing."),
                             ("experimental-distributed-tracing-service-name", "Configures service name for distributed tracing."),
                             ("experimental-distributed-tracing-instance-id", "Configures service instance ID for distributed tracing."),
                             ("experimental-distributed-tracing-sampling-rate", "Number of samples to collect per million spans for OpenTelemetry Tracing.")] {
            p.add(name, .value, help + " (unused without --experimental-enable-distributed-tracing)") { (_: inout Options, _: String) throws(E) in }
        }
        unused("experimental-downgrade-check-time", "Duration of time between two downgrade status check.", "unused: a swetcd leader does not finish a downgrade itself; it is cancelled with Maintenance.Downgrade", check: isDuration)
        unsupported("experimental-memory-mlock", .boolean, default: "false", "the backend's pages are not locked in memory", "Enable to enforce etcd pages (in particular bbolt) to stay in RAM.")
        p.add("experimental-snapshot-catchup-entries", .value, "Number of entries for a slow follower to catch up after compacting the raft storage entries.") { (o: inout Options, v: String) throws(E) in
            guard let n = UInt64(v), n > 0 else { throw E("invalid value \"\(v)\" for flag -experimental-snapshot-catchup-entries: parse error") }
            o.config.snapshotCatchUpEntries = n
        }
        unsupported("experimental-max-learners", .value, default: "1", "learners are not implemented yet", "Sets the maximum number of learners that can be available in the cluster membership.")
        bool("experimental-stop-grpc-service-on-defrag", "Enable etcd gRPC service to stop serving client requests on defragmentation.") { $0.config.stopGRPCServiceOnDefrag = $1 }
        bool("force-new-cluster", "Force to create a new one member cluster.") { $0.config.forceNewCluster = $1 }
        bool("unsafe-no-fsync", "Disables fsync, unsafe, will cause data loss.") { $0.config.unsafeNoFsync = $1 }
        unsupported("raft-read-timeout", .value, default: "5s", "peer connections use etcd's fixed 5 s", "Read timeout set on each rafthttp connection")
        unsupported("raft-write-timeout", .value, default: "5s", "peer connections use etcd's fixed 5 s", "Write timeout set on each rafthttp connection")
        // The gateway answers from the client port; until it exists, turning it off is what
        // swetcd already does.
        p.add("enable-grpc-gateway", .boolean, "Enable GRPC gateway (swetcd: there is no JSON gateway yet).") { (_: inout Options, _: String) throws(E) in }

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

/// Compares a flag's value with its default the way the flag reads it (booleans as Go parses
/// them, durations by length, numbers by value).
enum FlagValue {
    static func same(_ value: String, _ defaultValue: String, kind: FlagParser.Kind) -> Bool {
        if value == defaultValue { return true }
        if kind == .boolean { return FlagParser.parseBool(value) == FlagParser.parseBool(defaultValue) }
        if let a = Int(value), let b = Int(defaultValue) { return a == b }
        if let a = GoDuration.milliseconds(value), let b = GoDuration.milliseconds(defaultValue) { return a == b }
        return false
    }
}
