import EtcdProto
import Foundation
import Logging
import MVCC
import NIOCore
import NIOPosix
import Peer
import Raft
import Storage
import Synchronization
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
    private var corruptionChecker: CorruptionChecker?
    private lazy var announcer = CapabilityAnnouncer(logger: logger)
    private var peers: PeerTransport?
    private var versionCheck: RepeatedTask?
    /// Called (off the raft thread) once this member was removed from the cluster and has had a
    /// moment to answer the request that removed it; the process is expected to stop the server
    /// and exit, as etcd does. Set before `start()`.
    public var onRemovedFromCluster: (@Sendable () -> Void)?

    /// How long a removed member keeps serving before it stops (etcd's `stopWithDelay`).
    static let removedStopDelay: TimeAmount = .seconds(1)

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
        // etcd's own files (a data dir etcd ran on, or one `etcdutl snapshot restore` made): moved
        // aside and imported first, then started from as any swetcd data dir.
        _ = try EtcdMigration.migrateIfNeeded(dataDir: dataDir, walDir: config.walDir.isEmpty ? nil : config.walDir, logger: logger)
        // New or restarting is decided by whether the WAL holds a segment (etcd's haveWAL), not
        // by whether its directory exists: a crash after `wal/` was made but before its first
        // segment was renamed in leaves an empty directory, and the next start bootstraps again.
        // Every directory made here is synced into its parent (the WAL's by `WriteAheadLog.create`).
        let isNew = !WriteAheadLog.exists(directory: walDir)
        try DataDirectory(path: dataDir).createLayout()
        // Copies of the backend a snapshot (to a client or a peer) was being made from when the
        // process died: never needed again.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: snapDir)) ?? []
        where (name.hasPrefix("export-") || name.hasPrefix("send-")) && name.hasSuffix(".db") {
            try? FileManager.default.removeItem(atPath: snapDir + "/" + name)
            try? FileManager.default.removeItem(atPath: snapDir + "/" + name + "-lock")
        }

        let quota = config.effectiveQuotaBackendBytes
        let env = try LMDBEnvironment(
            path: snapDir + "/db", mapSizeBytes: max(Int(quota) * 2, Self.mapSizeMinBytes), maxReaders: 4096, maxDatabases: 16)
        environment = env
        if config.bootstrapDefragThresholdMegabytes > 0 { try BootstrapDefrag.run(env, thresholdMegabytes: config.bootstrapDefragThresholdMegabytes, logger: logger) }
        let store = try MVCCStore(environment: env)
        let snapshots = try SnapshotStore(directory: snapDir)
        let membership = try MembershipStore(store: store)

        let identity: ServerIdentity
        let wal: WriteAheadLog
        let raftStorage: MemoryStorage
        var snapshotIndex: UInt64 = 0
        /// The members of the cluster this member joins (`--initial-cluster-state existing`).
        var joinedMembers: [MemberRecord]?
        if isNew && !config.initialClusterStateNew {
            let joined = try joinExistingCluster(dataDir: dataDir)
            identity = joined.identity
            joinedMembers = joined.members
            // An empty log and no configuration: the leader sends what this member needs.
            wal = try WriteAheadLog.create(directory: walDir, metadata: WALMetadata(nodeID: identity.memberID, clusterID: identity.clusterID).serializedBytes())
            raftStorage = MemoryStorage()
            logger.info("joining an existing cluster", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
                "members": "\(joined.members.map { hex($0.id) })",
            ])
        } else if isNew {
            // etcd's bootstrap of a new cluster: every initial member writes the same
            // configuration entries (term 1, index 1...N) and the same hard state, so their logs
            // agree before any message is sent.
            let members = initialMembers()
            identity = ServerIdentity(
                memberID: ServerIdentity.memberID(peerURLs: config.initialAdvertisePeerURLs, clusterToken: config.initialClusterToken),
                clusterID: ServerIdentity.clusterID(memberIDs: members.map(\.id)))
            let entries = RaftBootstrap.entries(members: members)
            let hardState = HardState(term: 1, vote: 0, commit: UInt64(entries.count))
            wal = try WriteAheadLog.create(directory: walDir, metadata: WALMetadata(nodeID: identity.memberID, clusterID: identity.clusterID).serializedBytes())
            try wal.append(entries: entries, hardState: hardState)
            if !config.unsafeNoFsync { try wal.sync() }
            raftStorage = MemoryStorage()
            raftStorage.append(entries)
            raftStorage.setHardState(hardState)
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
            // Raft's configuration as of the store's applied index: the membership the store
            // holds. (A data dir from before raft was in the write path holds none: it was a
            // one-member cluster, and its membership is written now.)
            var confState = membership.current.confState
            if membership.current.members.isEmpty && !contents.entries.contains(where: { $0.type == .confChange }) && applied > 0 {
                try adoptSingleMemberDataDir(store: store, membership: membership, memberID: identity.memberID)
                confState = membership.current.confState
            }
            func storage(_ entries: [Entry]) throws -> MemoryStorage {
                let storage = MemoryStorage(confState: confState)
                if let snapshot {
                    try storage.applySnapshot(Snapshot(data: [], metadata: SnapshotMetadata(
                        confState: confState, index: snapshot.metadata.index, term: snapshot.metadata.term)))
                }
                storage.append(entries)
                return storage
            }
            snapshotIndex = snapshot?.metadata.index ?? 0
            var restored = try storage(contents.entries)
            var hardState = contents.hardState
            // The commit index is written without fsync; what the store applied was committed.
            let lastIndex = restored.lastIndex().rawValue
            hardState.commit = min(max(hardState.commit, applied, snapshotIndex), lastIndex)
            if hardState.term == 0 { hardState.term = max(contents.entries.last?.term ?? 1, 1) }
            if config.forceNewCluster {
                let kept = contents.entries.filter { $0.index <= hardState.commit }
                let ids = ForceNewCluster.memberIDs(applied: membership.current, committedEntries: kept.filter { $0.index > applied })
                let me = MemberRecord(id: identity.memberID, peerURLs: config.initialAdvertisePeerURLs.sorted(), name: config.name)
                let added = ForceNewCluster.entries(memberIDs: ids, selfMember: me, term: hardState.term, commit: hardState.commit)
                logger.warning("forcing restart member", metadata: [
                    "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
                    "commit-index": "\(hardState.commit)", "discarded-uncommitted-entries": "\(contents.entries.count - kept.count)",
                    "removed-member-ids": "\(ids.filter { $0 != identity.memberID }.map(hex))",
                ])
                if let last = added.last {
                    // In the WAL first (it replaces the discarded tail), committed.
                    hardState.commit = last.index
                    try wal.append(entries: added, hardState: hardState)
                    if !config.unsafeNoFsync { try wal.sync() }
                }
                restored = try storage(kept + added)
            }
            raftStorage = restored
            raftStorage.setHardState(hardState)
            if membership.current.removed.contains(identity.memberID) {
                // etcd's peers answer such a member 410 Gone and it stops; its own log says so.
                throw ClusterJoin.Failure(description: "the member has been permanently removed from the cluster")
            }
            logger.info("restarting local member", metadata: [
                "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
                "commit-index": "\(hardState.commit)", "applied-index": "\(applied)",
            ])
        }
        self.wal = wal

        let alarms = try AlarmStore(store: store)
        let lessor = Lessor(minTTLSeconds: Lessor.minTTLSeconds(
            electionTicks: config.electionTicks, heartbeatMilliseconds: config.heartbeatIntervalMilliseconds))
        let leaseStore = try LeaseStore(store: store)
        let applier = Applier(logger: logger, alarms: alarms, leases: LeaseApplier(store: leaseStore, lessor: lessor),
                              compactionBatchLimit: config.compactionBatchLimit)
        let electionMilliseconds = Int64(config.electionTicks * config.heartbeatIntervalMilliseconds)
        let raft = try RaftNode(
            configuration: RaftNode.Configuration(
                memberID: identity.memberID, heartbeatMilliseconds: config.heartbeatIntervalMilliseconds,
                electionTicks: config.electionTicks, preVote: config.preVote, snapshotCount: max(1, config.snapshotCount),
                snapshotCatchUpEntries: config.snapshotCatchUpEntries,
                maxSnapshots: config.maxSnapshots, maxWALs: config.maxWALs, fsync: !config.unsafeNoFsync,
                requestTimeoutNanoseconds: (5_000 + 2 * electionMilliseconds) * 1_000_000),
            store: store, wal: wal, snapshots: snapshots, raftStorage: raftStorage, snapshotIndex: snapshotIndex,
            applier: applier, membership: membership, logger: logger)
        if config.unsafeNoFsync {
            logger.warning("--unsafe-no-fsync: the WAL and the backend are not fsynced; a power loss or kernel crash loses acknowledged writes")
        }
        try alarms.publish(from: store)
        let watchHub = WatchHub(
            store: store, progressNotifyIntervalMilliseconds: config.experimentalWatchProgressNotifyIntervalMilliseconds, logger: logger)
        raft.watchHub = watchHub
        watchHub.start()
        self.watchHub = watchHub
        // Leases come back with their TTLs; a member that becomes leader restarts every lease's
        // full TTL plus an election timeout from then (etcd's lessor promotion).
        lessor.recover(try store.read { try leaseStore.records(in: $0.backend) })
        let metrics = ServerMetrics(serverVersion: EtcdVersion.server, memberID: identity.memberID)
        raft.metrics = metrics
        store.environment.observeCommits { metrics.backendCommit.record($0) }
        let core = EtcdServerCore(config: config, identity: identity, store: store, raft: raft, alarms: alarms,
                                  lessor: lessor, membership: membership, leaseStore: leaseStore, metrics: metrics, logger: logger)
        self.core = core
        core.watchCounts = { watchHub.counts() }
        lessor.onRenewed = { metrics.leasesRenewed.increment() }
        raft.timer = LeaseExpiry(lessor: lessor, logger: logger) { request, completion in core.propose(request, completion: completion) }
        let announcer = self.announcer
        // The group serves clients and peers alike; peers come up before raft runs so that
        // its first messages have somewhere to go.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        self.group = group
        let bridge = PeerBridge(core: core, snapshotDirectory: snapDir, logger: logger)
        // etcd registers its peers before it serves the peer port; a new member's membership is
        // still in its bootstrap entries, so it is taken from --initial-cluster.
        var knownMembership = membership.current
        if isNew {
            knownMembership = Membership()
            for member in joinedMembers ?? initialMembers() { knownMembership.members[member.id] = member }
        }
        let peers = try startPeers(bridge: bridge, membership: knownMembership, group: group, dataDir: dataDir)
        core.peers = peers
        raft.sender = bridge
        self.peers = peers
        raft.onMembershipApplied = { [weak core, weak bridge] membership in
            bridge?.syncPeers(membership)
            if let version = membership.clusterVersion { announcer.clusterVersionSet(version) }
            core?.decideClusterVersion()
        }
        raft.onLeading = { [weak core] in core?.decideClusterVersion() }
        raft.onRemoved = { [weak self] in self?.removedFromCluster(reason: "applied its own removal") }
        bridge.onRemoved = { [weak self] remote in self?.removedFromCluster(reason: "peer \(hex(remote)) answered 410 Gone") }
        if let version = membership.current.clusterVersion { announcer.clusterVersionSet(version) }
        let checker = CorruptionChecker(core: core, peers: peers, membership: membership,
                                        timeout: .nanoseconds(raft.configuration.requestTimeoutNanoseconds), logger: logger)
        if config.initialCorruptCheck && !isNew {
            // etcd checks a restarting member before its raft node runs (a new one has nothing
            // to compare yet).
            do {
                try checker.initialCheck()
            } catch {
                logger.error("checkInitialHashKV failed", metadata: ["error": "\(error)"])
                throw error
            }
        }
        corruptionChecker = checker
        raft.start()
        ElectionTickAdvance.start(
            enabled: config.initialElectionTickAdvance,
            // A new member's membership is still in its bootstrap entries, not yet applied.
            members: isNew ? initialMembers().count : membership.current.members.count,
            electionTicks: config.electionTicks, raft: raft, peers: peers, on: group.next(), logger: logger)
        // etcd serves clients only once this member's attributes are in the log.
        try core.publishAttributes()
        core.decideClusterVersion()
        core.leaderLoss.start(on: group.next(), electionTimeout: .milliseconds(Int64(electionMilliseconds))) { [weak core] in
            core?.raft.hasLeader ?? false
        }
        versionCheck = group.next().scheduleRepeatedTask(initialDelay: EtcdServerCore.versionCheckInterval, delay: EtcdServerCore.versionCheckInterval) { [weak core] _ in
            core?.decideClusterVersion()
        }

        var router = GRPCRouter()
        KVService(server: core).register(&router)
        LeaseService(server: core, store: leaseStore).register(&router)
        ClusterMaintenanceService(server: core, snapshotDirectory: snapDir).register(&router)
        MemberService(server: core).register(&router)
        WatchService(server: core, hub: watchHub).register(&router)
        HealthService(server: core).register(&router)
        DowngradeService.register(&router, server: core)
        let localClient = LocalClient(server: core, taps: watchHub.taps)
        LockService(client: localClient).register(&router)
        ElectionService(client: localClient).register(&router)
        LearnerGuard.install(&router, raft: raft)
        router.metrics = core.metrics.grpcMetrics(for: router, handlingTime: config.metricsExtensive)

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
        checker.startPeriodic(corruptCheckMilliseconds: config.corruptCheckMilliseconds,
                              compactHashCheckMilliseconds: config.compactHashCheckEnabled ? config.compactHashCheckMilliseconds : nil)
        // etcd's e2e harness waits for these two lines; print them only once clients are served.
        announcer.serving()
        logger.info("published local member to cluster through raft", metadata: [
            "local-member-id": "\(hex(identity.memberID))", "cluster-id": "\(hex(identity.clusterID))",
            "local-member-attributes": "{Name:\(config.name) ClientURLs:[\(config.advertiseClientURLs.joined(separator: " "))]}",
        ])
        let startupMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - startedAt.uptimeNanoseconds) / 1e6
        logger.info("ready to serve client requests", metadata: ["startup-ms": "\(Int(startupMilliseconds))"])
    }

    private let removed = Atomic<Bool>(false)

    /// This member was removed from the cluster (it applied the change, or a peer says so): it
    /// logs etcd's line and stops after a moment, so that its last answers go out; a leader hands
    /// leadership to a remaining voter first. Once; any thread.
    private func removedFromCluster(reason: String) {
        guard !removed.exchange(true, ordering: .relaxed), let core, let group else { return }
        logger.warning("the member has been permanently removed from the cluster", metadata: [
            "local-member-id": "\(hex(core.identity.memberID))", "reason": "\(reason)",
        ])
        if core.raft.leaderID == core.identity.memberID,
           let transferee = core.membership.current.voterIDs.first(where: { $0 != core.identity.memberID }) {
            core.raft.transferLeadership(to: transferee) { _ in }
        }
        group.next().scheduleTask(in: Self.removedStopDelay) { [weak self] in self?.onRemovedFromCluster?() }
    }

    /// Stops listening, finishes the batch in progress, and closes storage.
    public func stop() {
        corruptionChecker?.stop()
        corruptionChecker = nil
        autoCompaction?.stop()
        autoCompaction = nil
        versionCheck?.cancel()
        versionCheck = nil
        core?.leaderLoss.stop()
        for channel in channels { try? channel.close().wait() }
        channels.removeAll()
        core?.raft.stop()
        core?.raft.timer = nil  // it holds the core (through its propose closure)
        core?.raft.sender = nil
        peers?.stop()
        peers = nil
        watchHub?.stop()
        try? group?.syncShutdownGracefully()
        group = nil
        try? wal?.close()
        environment?.close()
    }

    /// The peer transport on `--listen-peer-urls`, with the `--peer-*` TLS settings (or a
    /// self-signed pair in `<data-dir>/fixtures/peer` with `--peer-auto-tls`, whose peers are
    /// then not verified, as etcd does).
    private func startPeers(bridge: PeerBridge, membership: Membership, group: MultiThreadedEventLoopGroup, dataDir: String) throws -> PeerTransport {
        let (serverTLS, clientTLS) = try peerTLS(dataDir: dataDir)
        let transport = PeerTransport(services: bridge, group: group, clientTLS: clientTLS, dialTimeout: peerDialTimeout,
                                      localPeerURLs: config.initialAdvertisePeerURLs,
                                      metrics: PeerNetworkMetrics(registry: bridge.core.metrics.registry, localID: bridge.localID),
                                      logger: logger)
        bridge.transport = transport
        bridge.syncPeers(membership)
        for url in config.listenPeerURLs {
            _ = try transport.listen(url, tls: url.isTLS ? serverTLS : nil)
            logger.info("serving peer traffic", metadata: ["address": "\(url)"])
        }
        return transport
    }

    /// etcd's peer dial timeout: 1 s plus an election timeout.
    private var peerDialTimeout: TimeAmount {
        .milliseconds(Int64(1000 + config.electionTicks * config.heartbeatIntervalMilliseconds))
    }

    /// The peer port's TLS contexts, server and client side, if any.
    private func peerTLS(dataDir: String) throws -> (server: TLSContext?, client: TLSContext?) {
        var serverTLS: TLSContext?
        var clientTLS: TLSContext?
        if var tls = config.peerTLS {
            tls.endpoint = .peer
            serverTLS = try TLSContext(tls)
            var client = tls
            if !config.peerClientCertFile.isEmpty { client.certificateFile = config.peerClientCertFile }
            if !config.peerClientKeyFile.isEmpty { client.keyFile = config.peerClientKeyFile }
            clientTLS = try TLSContext(client, role: .client(skipServerVerification: false))
        } else if config.peerAutoTLS {
            let hosts = config.listenPeerURLs.map { $0.host == "0.0.0.0" || $0.host.isEmpty ? "localhost" : $0.host }
            let (cert, key) = try SelfSignedCertificate.ensure(directory: dataDir + "/fixtures/peer", hosts: hosts)
            let tls = TLSConfiguration(certificateFile: cert, keyFile: key, endpoint: .peer)
            serverTLS = try TLSContext(tls)
            clientTLS = try TLSContext(tls, role: .client(skipServerVerification: true))
        }
        return (serverTLS, clientTLS)
    }

    /// etcd's `GetClusterFromRemotePeers` and `ValidateClusterAndAssignIDs`: asks the other
    /// members of `--initial-cluster` for the cluster's members and takes this member's ID and
    /// the cluster's from their answer.
    private func joinExistingCluster(dataDir: String) throws -> (identity: ServerIdentity, members: [MemberRecord]) {
        let local = initialMembers()
        let remoteURLs = local.filter { $0.name != config.name }.flatMap(\.peerURLs)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let (_, clientTLS) = try peerTLS(dataDir: dataDir)
        guard let answer = PeerTransport.fetchMembers(urls: remoteURLs, group: group, tls: clientTLS, timeout: peerDialTimeout, logger: logger),
            let existing = try? JSONDecoder().decode([MemberRecord].self, from: Data(answer.json.utf8))
        else {
            throw ClusterJoin.Failure(description: "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs")
        }
        let id = try ClusterJoin.assignIDs(local: local, existing: existing, name: config.name, clusterID: answer.clusterID)
        return (ServerIdentity(memberID: id, clusterID: answer.clusterID), existing)
    }

    /// The members of `--initial-cluster`, by name (a name may list several peer URLs), with the
    /// IDs etcd derives for them.
    private func initialMembers() -> [MemberRecord] {
        var byName: [String: [String]] = [:]
        var order: [String] = []
        for (name, url) in config.initialCluster {
            if byName[name] == nil { order.append(name) }
            byName[name, default: []].append(url)
        }
        if byName.isEmpty {
            byName[config.name] = config.initialAdvertisePeerURLs
            order = [config.name]
        }
        return order.map { name in
            let urls = (name == config.name ? config.initialAdvertisePeerURLs : byName[name]!).sorted()
            return MemberRecord(id: ServerIdentity.memberID(peerURLs: urls, clusterToken: config.initialClusterToken), peerURLs: urls, name: name)
        }
    }

    /// A data dir written before raft was in the write path: a one-member cluster whose
    /// membership was never recorded. Records it (this member, its peer URLs and name) in one
    /// transaction that leaves the applied index as it is.
    private func adoptSingleMemberDataDir(store: MVCCStore, membership: MembershipStore, memberID: UInt64) throws {
        logger.info("recording the membership of a single-member data dir", metadata: ["local-member-id": "\(hex(memberID))"])
        try store.write { txn in
            var m = Membership()
            m.members[memberID] = MemberRecord(id: memberID, peerURLs: config.initialAdvertisePeerURLs.sorted(), name: config.name)
            m.clusterVersion = EtcdVersion.cluster
            try MembershipStore.save(m, txn)
        }
        try membership.publish(from: store)
    }

}

func hex(_ id: UInt64) -> String { String(id, radix: 16) }

/// Prints etcd's "enabled capabilities for version" once the cluster version is known and clients
/// are served (etcd's e2e harness takes the line as a sign the member is ready). Any thread.
final class CapabilityAnnouncer: Sendable {
    private struct State {
        var version: String?
        var serving = false
        var announced: String?
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func clusterVersionSet(_ version: String) {
        announce { $0.version = version }
    }

    func serving() {
        announce { $0.serving = true }
    }

    private func announce(_ change: (inout State) -> Void) {
        let line = state.withLock { s -> String? in
            change(&s)
            guard s.serving, let version = s.version, s.announced != version else { return nil }
            s.announced = version
            return version
        }
        if let version = line {
            // etcd prints major.minor.
            let capability = version.split(separator: ".").prefix(2).joined(separator: ".")
            logger.info("enabled capabilities for version", metadata: ["cluster-version": "\(capability)"])
        }
    }
}
