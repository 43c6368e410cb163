import EtcdProto
import Foundation
import Logging
import MVCC
import NIOCore
import NIOPosix
import Storage
import Transport

/// A running swetcd member: storage opened and replayed, the raft thread started, client
/// listeners bound. `start()` returns once clients are being served.
public final class EtcdServer: @unchecked Sendable {
    public let config: ServerConfig
    private let logger: Logger
    private var group: MultiThreadedEventLoopGroup?
    private var channels: [any Channel] = []
    private var core: EtcdServerCore?
    private var wal: WriteAheadLog?
    private var environment: LMDBEnvironment?
    private var watchHub: WatchHub?
    private var autoCompaction: AutoCompactionRunner?

    /// The LMDB map is address space, not memory; it grows in place up to this before the
    /// backend reports it is full (the quota check answers long before).
    static let mapSizeMinBytes = 8 * 1024 * 1024 * 1024

    public init(config: ServerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Addresses the client listeners are bound to (real ports when a URL asked for port 0).
    public var clientAddresses: [SocketAddress] { channels.compactMap(\.localAddress) }

    public var identity: ServerIdentity? { core?.identity }

    public func start() throws {
        let startedAt = DispatchTime.now()
        let dataDir = config.effectiveDataDir
        let memberDir = dataDir + "/member"
        let walDir = config.walDir.isEmpty ? memberDir + "/wal" : config.walDir
        let snapDir = memberDir + "/snap"
        let fm = FileManager.default
        let isNew = !fm.fileExists(atPath: walDir)
        try fm.createDirectory(atPath: snapDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if isNew {
            try fm.createDirectory(atPath: walDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }

        let quota = config.effectiveQuotaBackendBytes
        let env = try LMDBEnvironment(
            path: snapDir + "/db", mapSizeBytes: max(Int(quota) * 2, Self.mapSizeMinBytes), maxReaders: 4096, maxDatabases: 16)
        environment = env
        if config.bootstrapDefragThresholdMegabytes > 0 { try BootstrapDefrag.run(env, thresholdMegabytes: config.bootstrapDefragThresholdMegabytes, logger: logger) }
        let store = try MVCCStore(environment: env)
        let snapshots = try SnapshotStore(directory: snapDir)

        let identity: ServerIdentity
        let wal: WriteAheadLog
        var replay: [Entry] = []
        var state = RaftLoop.State(term: 1, lastIndex: 0, snapshotIndex: 0)
        if isNew {
            identity = bootstrapIdentity()
            wal = try WriteAheadLog.create(directory: walDir, metadata: WALMetadata(nodeID: identity.memberID, clusterID: identity.clusterID).serializedBytes())
            logger.info("starting local member", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
            ])
        } else {
            // The newest .snap file says where the WAL must be read from: its marker was written
            // to the WAL first, after the backend had been flushed to disk at that index, so
            // nothing before it is needed and only the segments from there on are read.
            let applied = store.meta.appliedIndex
            let snapshot = try snapshots.loadNewest(where: { $0.index <= applied }, onBroken: { name, reason in
                self.logger.warning("skipped a broken snapshot file", metadata: ["file": "\(name)", "reason": "\(reason)"])
            })
            let marker = snapshot.map { WALSnapshotMarker(index: $0.metadata.index, term: $0.metadata.term) }
            let (opened, contents) = try WriteAheadLog.open(directory: walDir, fromSnapshot: marker, onRepair: { repair in
                self.logger.warning("repaired the WAL's torn tail", metadata: ["repair": "\(repair)"])
            })
            wal = opened
            let metadata = try WALMetadata(serializedBytes: contents.metadata)
            identity = ServerIdentity(memberID: metadata.nodeID, clusterID: metadata.clusterID)
            replay = contents.entries
            let last = contents.entries.last?.index ?? marker?.index ?? 0
            let term = max(contents.hardState.term, contents.entries.last?.term ?? 1, 1)
            state = RaftLoop.State(term: term, lastIndex: max(last, store.meta.appliedIndex), snapshotIndex: marker?.index ?? 0)
            logger.info("restarting local member", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
                "commit-index": "\(state.lastIndex)", "applied-index": "\(store.meta.appliedIndex)",
            ])
        }
        self.wal = wal

        let alarms = try AlarmStore(store: store)
        let lessor = Lessor(minTTLSeconds: Lessor.minTTLSeconds(
            electionTicks: config.electionTicks, heartbeatMilliseconds: config.heartbeatIntervalMilliseconds))
        let leaseStore = try LeaseStore(store: store)
        let applier = Applier(logger: logger, confState: ConfState(voters: [identity.memberID]), alarms: alarms,
                              leases: LeaseApplier(store: leaseStore, lessor: lessor),
                              compactionBatchLimit: config.compactionBatchLimit)
        let raft = RaftLoop(store: store, wal: wal, snapshots: snapshots, state: state,
                            snapshotCount: max(1, config.snapshotCount),
                            retention: .init(maxSnapshots: config.maxSnapshots, maxWALs: config.maxWALs),
                            fsync: !config.unsafeNoFsync,
                            applier: applier, logger: logger)
        if config.unsafeNoFsync {
            logger.warning("--unsafe-no-fsync: the WAL and the backend are not fsynced; a power loss or kernel crash loses acknowledged writes")
        }
        try raft.replay(replay)
        try alarms.publish(from: store)
        let watchHub = WatchHub(
            store: store, progressNotifyIntervalMilliseconds: config.experimentalWatchProgressNotifyIntervalMilliseconds, logger: logger)
        raft.watchHub = watchHub
        watchHub.start()
        self.watchHub = watchHub
        // Leases come back with their TTLs; the single member leads at once, so, as etcd's new
        // leader does, every lease restarts its full TTL plus an election timeout from now.
        lessor.recover(try store.read { try leaseStore.records(in: $0.backend) })
        lessor.promote(extendNanoseconds: Int64(config.electionTicks * config.heartbeatIntervalMilliseconds) * 1_000_000)
        let core = EtcdServerCore(config: config, identity: identity, store: store, raft: raft, alarms: alarms,
                                  lessor: lessor, logger: logger)
        self.core = core
        raft.timer = LeaseExpiry(lessor: lessor, logger: logger) { request, completion in core.propose(request, completion: completion) }
        raft.start()

        var router = GRPCRouter()
        KVService(server: core).register(&router)
        LeaseService(server: core, store: leaseStore).register(&router)
        ClusterMaintenanceService(server: core).register(&router)
        WatchService(server: core, hub: watchHub).register(&router)
        HealthService(server: core).register(&router)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        self.group = group
        let transport = TransportServer(
            group: group, router: router, http: HTTPEndpoints(server: core),
            configuration: TransportConfiguration(
                receiveMessageBytesMax: config.maxRequestBytes + ServerConfig.grpcOverheadBytes,
                httpBodyBytesMax: 2 * (config.maxRequestBytes + ServerConfig.grpcOverheadBytes),
                maxConcurrentStreams: config.maxConcurrentStreams),
            logger: logger)
        var tlsConfiguration = config.clientTLS
        if var auto = tlsConfiguration, auto.certificateFile.isEmpty {
            let hosts = config.listenClientURLs.map { $0.host == "0.0.0.0" || $0.host.isEmpty ? "localhost" : $0.host }
            let (cert, key) = try SelfSignedCertificate.ensure(directory: dataDir + "/fixtures/client", hosts: hosts)
            auto.certificateFile = cert
            auto.keyFile = key
            tlsConfiguration = auto
        }
        let clientTLS = try tlsConfiguration.map { try TLSContext($0) }
        for url in config.listenClientURLs {
            let channel = try transport.bind(url, tls: clientTLS, serving: config.listenClientHTTPURLs.isEmpty ? .grpcAndHTTP : .grpcOnly).wait()
            channels.append(channel)
            if url.isTLS {
                logger.info("serving client traffic securely", metadata: ["address": "\(url)"])
            } else {
                logger.info("serving client traffic insecurely; this is strongly discouraged!", metadata: ["address": "\(url)"])
            }
        }
        // HTTP-only listeners: --listen-metrics-urls (/health, /livez, /readyz, /version, as
        // kubeadm's probes use them) and --listen-client-http-urls.
        for url in config.listenMetricsURLs + config.listenClientHTTPURLs {
            if url.isTLS && clientTLS == nil && config.listenMetricsURLs.contains(url) {
                // etcd's `ErrMissingClientTLSInfoForMetricsURL`, word for word.
                throw TLSError.configuration("client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url")
            }
            let channel = try transport.bind(url, tls: url.isTLS ? clientTLS : nil, serving: .httpOnly).wait()
            channels.append(channel)
            logger.info(config.listenMetricsURLs.contains(url) ? "serving metrics" : "serving client traffic over HTTP", metadata: ["address": "\(url)"])
        }
        if let mode = config.autoCompaction?.mode {
            let runner = AutoCompactionRunner(mode: mode, server: core, logger: logger)
            runner.start()
            autoCompaction = runner
        }
        // etcd's e2e harness waits for these two lines; print them only once clients are served.
        logger.info("enabled capabilities for version", metadata: ["cluster-version": "\(EtcdVersion.capability)"])
        logger.info("published local member to cluster through raft", metadata: [
            "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
            "local-member-attributes": "{Name:\(config.name) ClientURLs:[\(config.advertiseClientURLs.joined(separator: " "))]}",
        ])
        let startupMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - startedAt.uptimeNanoseconds) / 1e6
        logger.info("ready to serve client requests", metadata: ["startup-ms": "\(Int(startupMilliseconds))"])
    }

    /// Stops listening, finishes the batch in progress, and closes storage.
    public func stop() {
        autoCompaction?.stop()
        autoCompaction = nil
        for channel in channels { try? channel.close().wait() }
        channels.removeAll()
        core?.raft.stop()
        core?.raft.timer = nil  // it holds the core (through its propose closure)
        watchHub?.stop()
        try? group?.syncShutdownGracefully()
        group = nil
        try? wal?.close()
        environment?.close()
    }

    private func bootstrapIdentity() -> ServerIdentity {
        let memberID = ServerIdentity.memberID(peerURLs: config.initialAdvertisePeerURLs, clusterToken: config.initialClusterToken)
        var ids: [UInt64] = []
        var byName: [String: [String]] = [:]
        for (name, url) in config.initialCluster { byName[name, default: []].append(url) }
        for (name, urls) in byName {
            ids.append(name == config.name ? memberID : ServerIdentity.memberID(peerURLs: urls, clusterToken: config.initialClusterToken))
        }
        if ids.isEmpty { ids = [memberID] }
        return ServerIdentity(memberID: memberID, clusterID: ServerIdentity.clusterID(memberIDs: ids))
    }
}

func hex(_ id: UInt64) -> String { String(id, radix: 16) }
