import EtcdProto
import Foundation
import Logging
import MVCC
import NIOCore
import Peer
import Storage
import Synchronization
import Transport

/// What the services share: configuration, identity, the store and the write path.
/// Immutable after start except through its thread-safe parts; used from every event loop.
final class EtcdServerCore: Sendable {
    let config: ServerConfig
    let identity: ServerIdentity
    let store: MVCCStore
    let raft: RaftNode
    let alarms: AlarmStore
    let lessor: Lessor
    let membership: MembershipStore
    let leaseStore: LeaseStore
    /// Ends `hasleader` streams after the leader has been gone for a while.
    let leaderLoss = LeaderLossMonitor()
    /// The peer transport; set once at start-up, before clients are served.
    nonisolated(unsafe) var peers: PeerTransport?
    let logger: Logger
    /// Free space where the data directory lives; writes stop (NOSPACE) before the disk is full.
    let disk: DiskSpace
    let metrics: ServerMetrics
    /// The watch hub's watcher counts (set once at start-up, before clients are served).
    nonisolated(unsafe) var watchCounts: (@Sendable () -> (watchers: Int, streams: Int, unsynced: Int))?
    /// etcd's `idutil.Generator`: the member ID's low 16 bits, then 48 bits that start at the
    /// start-up time in milliseconds (low 40 bits) shifted past an 8-bit counter.
    private let idPrefix: UInt64
    private let idSuffix: Atomic<UInt64>

    init(config: ServerConfig, identity: ServerIdentity, store: MVCCStore, raft: RaftNode, alarms: AlarmStore,
         lessor: Lessor, membership: MembershipStore, leaseStore: LeaseStore, metrics: ServerMetrics, logger: Logger) {
        self.metrics = metrics
        self.membership = membership
        self.leaseStore = leaseStore
        self.alarms = alarms
        self.lessor = lessor
        self.config = config
        self.identity = identity
        self.store = store
        self.raft = raft
        self.logger = logger
        self.disk = DiskSpace(path: config.effectiveDataDir)
        self.idPrefix = (identity.memberID & 0xffff) << 48
        let milliseconds = UInt64(truncatingIfNeeded: Date.nowMilliseconds) & (1 << 40 - 1)
        self.idSuffix = Atomic(milliseconds << 8)
    }

    /// A new request ID (also the source of server-chosen lease IDs, as in etcd). Any thread.
    func nextID() -> UInt64 {
        let suffix = idSuffix.wrappingAdd(1, ordering: .relaxed).newValue
        return idPrefix | (suffix & (1 << 48 - 1))
    }

    /// Whether this member knows a leader; requests with `hasleader=true` metadata fail fast
    /// without one (`etcdserver: no leader`).
    var hasLeader: Bool { raft.hasLeader }

    func header(revision: Int64) -> ResponseHeader {
        ResponseHeader(clusterID: identity.clusterID, memberID: identity.memberID, revision: revision, raftTerm: raft.term)
    }

    func currentRevision() -> Int64 { store.meta.currentRevision }

    // MARK: reads

    /// Serves a read locally once it may be: at once when serializable (or when this member is a
    /// one-voter leader), else after a ReadIndex round confirms this member holds everything
    /// committed when the read arrived (etcd's `linearizableReadNotify`). `body` runs on the
    /// raft thread in the second case: it must be quick (it hops to where the read is done).
    func whenReadable(serializable: Bool, _ body: @escaping @Sendable (Result<Void, EtcdError>) -> Void) {
        if serializable || raft.isSingletonLeader {
            body(.success(()))
        } else {
            raft.read(body)
        }
    }

    func range(_ request: RangeRequest) -> Result<RangeResponse, EtcdError> {
        do {
            try RequestValidation.check(request)
        } catch {
            return .failure(error)
        }
        metrics.servedRange()
        return read { view in
            var response = try KVApplier.range(request, on: view)
            response.header = header(revision: response.header?.revision ?? view.currentRevision)
            return response
        }
    }

    func readOnlyTxn(_ request: TxnRequest) -> Result<TxnResponse, EtcdError> {
        let result = read { view in
            var response = try KVApplier.readOnlyTxn(request, on: view)
            response.header = header(revision: view.currentRevision)
            return response
        }
        if case .success(let response) = result { metrics.served(response) }
        return result
    }

    private func read<R>(_ body: (MVCCReadView) throws -> R) -> Result<R, EtcdError> {
        do {
            return .success(try store.read(body))
        } catch let error as EtcdError {
            return .failure(error)
        } catch let error as MVCCError {
            return .failure(EtcdError(error))
        } catch {
            logger.error("read failed", metadata: ["error": "\(error)"])
            return .failure(.other("\(error)"))
        }
    }

    // MARK: writes

    /// Encodes `request` with a fresh ID, checks it against `--max-request-bytes`, and sends it
    /// down the write path. `completion` runs on the raft thread.
    func propose(_ request: InternalRaftRequest, completion: @escaping @Sendable (Result<ApplyResult, EtcdError>) -> Void) {
        var request = request
        var header = RequestHeader()
        header.id = nextID()
        request.header = header
        let data = request.serializedBytes()
        if data.count > config.maxRequestBytes {
            completion(.failure(.requestTooLarge))
            return
        }
        if raft.isStalled {
            // The backend cannot write (disk full): the log would only grow behind it.
            completion(.failure(.noSpace))
            return
        }
        if request.put != nil || request.leaseGrant != nil || (request.txn.map { KVApplier.hasPut($0) } ?? false) {
            if !quotaAvailable(adding: data.count) || !disk.hasRoom(for: data.count) {
                // etcd's quota check: raise NOSPACE through the log, refuse this write.
                var alarm = InternalRaftRequest()
                alarm.alarm = AlarmRequest(action: .activate, memberID: identity.memberID, alarm: .noSpace)
                if !alarms.noSpace { propose(alarm) { _ in } }
                completion(.failure(.noSpace))
                return
            }
        }
        raft.propose(Proposal(request: request, data: data, completion: completion))
    }

    /// etcd's `backendQuota.Available`: the backend's size plus this request stays within
    /// `--quota-backend-bytes`.
    func quotaAvailable(adding bytes: Int) -> Bool {
        guard let used = try? store.environment.usedBytes else { return true }
        return Int64(used + bytes) <= config.effectiveQuotaBackendBytes
    }

    // MARK: maintenance

    /// Where Defragment and HashKV run, one at a time, off the event loops: each reads the whole
    /// backend, so many clients asking at once queue here instead of taking a thread each.
    private static let maintenanceQueue = DispatchQueue(label: "swetcd-maintenance")

    /// etcd's Defragment: the backend file is rewritten without its free pages. Runs on the
    /// maintenance queue (it takes as long as copying the data); writes wait for it, reads wait
    /// only for the final swap, as in etcd. `done` is called on that queue.
    func defragment(_ done: @escaping @Sendable (Result<Void, EtcdError>) -> Void) {
        let environment = store.environment
        let logger = self.logger
        Self.maintenanceQueue.async { [self] in
            defragmentingFlag.store(true, ordering: .releasing)
            defer { defragmentingFlag.store(false, ordering: .releasing) }
            let started = ContinuousClock.now
            let before = try? environment.sizes
            logger.info("defragmenting", metadata: [
                "path": "\(environment.path)",
                "current-db-size-bytes": "\(before?.fileBytes ?? 0)",
                "current-db-size-in-use-bytes": "\(before?.usedBytes ?? 0)",
            ])
            do {
                let (oldBytes, newBytes) = try environment.compactInPlace { stage in
                    logger.info("defragmenting", metadata: ["path": "\(environment.path)", "stage": "\(stage)"])
                }
                let took = ContinuousClock.now - started
                logger.info("finished defragmenting directory", metadata: [
                    "path": "\(environment.path)",
                    "current-db-size-bytes-diff": "\(newBytes - oldBytes)",
                    "current-db-size-bytes": "\(newBytes)",
                    "took": "\(took)",
                ])
                done(.success(()))
            } catch {
                logger.warning("failed to defragment", metadata: ["path": "\(environment.path)", "error": "\(error)"])
                done(.failure(.other("etcdserver: defragment failed: \(error)")))
            }
        }
    }

    /// Whether a Defragment is running (grpc.health.v1 may answer NOT_SERVING meanwhile).
    var isDefragmenting: Bool { defragmentingFlag.load(ordering: .acquiring) }
    private let defragmentingFlag = Atomic<Bool>(false)

    /// Maintenance.Hash (see `BackendHash`): a read of every table, on the maintenance queue.
    func hashBackend(_ done: @escaping @Sendable (Result<(hash: UInt32, revision: Int64), EtcdError>) -> Void) {
        let store = self.store
        let attachments = leaseStore.attachments
        Self.maintenanceQueue.async {
            do {
                done(.success(try BackendHash.compute(store: store, leaseAttachments: attachments)))
            } catch {
                done(.failure(.other("\(error)")))
            }
        }
    }

    /// The backend in etcd's bbolt layout at `path` (`EtcdBackendExport`), on the maintenance
    /// queue. `done` is called on that queue.
    func exportBackend(to path: String, _ done: @escaping @Sendable (Result<Void, EtcdError>) -> Void) {
        let store = self.store
        let logger = self.logger
        Self.maintenanceQueue.async {
            do {
                try EtcdBackendExport.write(store: store, to: path)
                done(.success(()))
            } catch {
                logger.warning("failed to write the backend for a snapshot", metadata: ["error": "\(error)"])
                done(.failure(.other("etcdserver: snapshot failed: \(error)")))
            }
        }
    }

    /// etcd's HashKV (see `KVHash`): a read of the whole history, so it runs on the maintenance
    /// queue in one read transaction; writes go on meanwhile. `done` is called on that queue.
    func hashKV(revision: Int64, _ done: @escaping @Sendable (Result<KVHash, EtcdError>) -> Void) {
        let store = self.store
        Self.maintenanceQueue.async {
            do {
                done(.success(try store.hashKV(revision: revision)))
            } catch let error as MVCCError {
                done(.failure(EtcdError(error)))
            } catch {
                done(.failure(.other("\(error)")))
            }
        }
    }

    // MARK: cluster

    /// The members, sorted by ID, as MemberList shows them.
    func members() -> [Member] {
        membership.current.sortedMembers.map(\.protoMember)
    }

    /// etcd's `publish`: proposes this member's name and client URLs (a v2 `PUT
    /// /0/members/<id>/attributes`, as etcd 3.5 does) and waits until it is applied, trying
    /// again every request timeout until it is (etcd logs a warning each time it fails).
    func publishAttributes() throws {
        let attributes = MemberAttributes(name: config.name, clientURLs: config.advertiseClientURLs)
        while true {
            let id = nextID()
            var request = V2Request(id: id, method: "PUT", path: "/0/members/\(hex(identity.memberID))/attributes", val: attributes.json)
            request.prevExist = nil
            let done = DispatchSemaphore(value: 0)
            let outcome = Mutex<Result<ApplyResult, EtcdError>?>(nil)
            raft.propose(Proposal(id: id, data: request.serializedBytes(), type: .normal) { result in
                outcome.withLock { $0 = result }
                done.signal()
            })
            done.wait()
            switch outcome.withLock({ $0 })! {
            case .success:
                return
            case .failure(.stopped):
                throw EtcdError.stopped
            case .failure(let error):
                // A snapshot from the leader may have carried the publish in (its outcome is
                // then unknown to the proposer): the membership says whether it took.
                if let me = membership.current.members[identity.memberID], me.name == attributes.name, me.clientURLs == attributes.clientURLs {
                    return
                }
                logger.warning("failed to publish local member to cluster through raft", metadata: [
                    "local-member-id": "\(hex(identity.memberID))", "request-path": "/0/members/\(hex(identity.memberID))/attributes",
                    "error": "\(error.status.message)",
                ])
            }
        }
    }

    /// etcd's `monitorVersions` on the leader (run at each first commit of a term and every
    /// `versionCheckInterval`): asks every member's `/version`; the cluster version becomes the
    /// lowest major.minor they run when all answered, and etcd's minimum cluster version (3.0.0)
    /// when it has none yet and some did not (a member that never joins must not keep the
    /// cluster from getting one). Proposed as etcd 3.5 does, a v2 `PUT /0/version`. Any thread;
    /// at most one check in flight.
    func decideClusterVersion() {
        guard raft.leaderID == identity.memberID else { return }
        guard versionProposalInFlight.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let current = membership.current
        let others = current.members.values.filter { $0.id != identity.memberID }
        guard let peers, !others.isEmpty else {
            return proposeClusterVersion(EtcdVersion.cluster, current: current.clusterVersion)
        }
        let futures = others.map { peers.fetchVersion(urls: $0.peerURLs, timeout: .seconds(1)) }
        EventLoopFuture.whenAllComplete(futures, on: futures[0].eventLoop).whenComplete { [self] results in
            var lowest = PeerVersion(EtcdVersion.server)!
            var allAnswered = true
            for result in (try? results.get()) ?? [] {
                guard case .success(let text?) = result, let v = PeerVersion(text) else {
                    allAnswered = false
                    continue
                }
                if v < lowest { lowest = v }
            }
            let decided = allAnswered ? "\(lowest.major).\(lowest.minor).0" : nil
            if let currentVersion = membership.current.clusterVersion {
                guard let decided, let now = PeerVersion(currentVersion), let next = PeerVersion(decided), now < next else {
                    return versionProposalInFlight.store(false, ordering: .releasing)
                }
                return proposeClusterVersion(decided, current: currentVersion)
            }
            proposeClusterVersion(decided ?? EtcdVersion.minCluster, current: nil)
        }
    }

    private func proposeClusterVersion(_ version: String, current: String?) {
        guard current != version, raft.leaderID == identity.memberID else {
            return versionProposalInFlight.store(false, ordering: .releasing)
        }
        let id = nextID()
        let request = V2Request(id: id, method: "PUT", path: "/0/version", val: version)
        logger.info(current == nil ? "setting up initial cluster version using v2 API" : "updating cluster version using v2 API",
                    metadata: ["from": "\(current ?? "")", "to": "\(version.split(separator: ".").prefix(2).joined(separator: "."))"])
        raft.propose(Proposal(id: id, data: request.serializedBytes(), type: .normal) { [self] _ in
            versionProposalInFlight.store(false, ordering: .releasing)
        })
    }

    /// How often the leader checks the members' versions (etcd's `monitorVersionInterval`).
    static let versionCheckInterval = TimeAmount.seconds(4)

    private let versionProposalInFlight = Atomic<Bool>(false)

    // MARK: leases on a follower

    /// etcd's request timeout (`ReqTimeout()`).
    var requestTimeout: TimeAmount { .nanoseconds(raft.configuration.requestTimeoutNanoseconds) }

    /// The leader's peer URLs, nil without a leader.
    func leaderPeerURLs() -> [String]? {
        let leader = raft.leaderID
        guard leader != 0, let member = membership.current.members[leader] else { return nil }
        return member.peerURLs
    }

    /// A keep-alive on a member that is not the leader: forwarded to the leader (etcd's
    /// `LeaseRenew` → `POST /leases`). Answers the TTL, 0 for a lease the leader does not know.
    func forwardLeaseRenew(_ id: Int64, _ done: @escaping @Sendable (Result<Int64, EtcdError>) -> Void) {
        guard let peers, let urls = leaderPeerURLs() else { return done(.failure(.noLeader)) }
        peers.forwardLeaseRenew(LeaseKeepAliveRequest(id: id), urls: urls, timeout: requestTimeout).whenComplete { result in
            switch result {
            case .success(.ok(let response)): done(.success(response.ttl))
            case .success(.notFound): done(.success(0))
            case .success(.timeout), .failure: done(.failure(.timeout))
            case .success(.failed(let text)): done(.failure(.other(text)))
            }
        }
    }

    /// LeaseTimeToLive on a member that is not the leader (`POST /leases/internal`).
    func forwardLeaseTimeToLive(_ request: LeaseTimeToLiveRequest, _ done: @escaping @Sendable (Result<LeaseTimeToLiveResponse, EtcdError>) -> Void) {
        guard let peers, let urls = leaderPeerURLs() else { return done(.failure(.noLeader)) }
        peers.forwardLeaseTimeToLive(request, urls: urls, timeout: requestTimeout).whenComplete { [self] result in
            switch result {
            case .success(.ok(var response)):
                response.header = header(revision: currentRevision())
                done(.success(response))
            case .success(.notFound):
                var response = LeaseTimeToLiveResponse()
                response.id = request.id
                response.ttl = -1
                response.header = header(revision: currentRevision())
                done(.success(response))
            case .success(.timeout), .failure: done(.failure(.timeout))
            case .success(.failed(let text)): done(.failure(.other(text)))
            }
        }
    }

    /// The Prometheus text of `/metrics`, gauges read from the server as it is now.
    func metricsText() -> [UInt8] {
        let state = raft.state
        let sizes = try? store.environment.sizes
        let store = self.store
        let liveKeys = metrics.liveKeys.value {
            try? store.read { view in
                let all = try KVApplier.range(RangeRequest(key: [0], rangeEnd: [0], countOnly: true), on: view)
                return (Int(all.count), view.currentRevision)
            }
        }
        return metrics.render(ServerMetrics.State(
            hasLeader: raft.hasLeader, isLeader: raft.leaderID == identity.memberID,
            committedIndex: state.commitIndex, appliedIndex: state.appliedIndex,
            pendingProposals: raft.pendingProposals,
            dbFileBytes: sizes.map { $0.fileBytes }, dbUsedBytes: sizes.map { $0.usedBytes },
            clusterVersion: membership.current.clusterVersion, liveKeys: liveKeys,
            watchers: watchCounts?() ?? (0, 0, 0)))
    }

    func status() -> StatusResponse {
        let meta = store.meta
        let sizes = try? store.environment.sizes
        let state = raft.state
        var response = StatusResponse()
        response.header = header(revision: meta.currentRevision)
        response.version = EtcdVersion.server
        response.dbSize = Int64(sizes?.fileBytes ?? 0)
        response.dbSizeInUse = Int64(sizes?.usedBytes ?? 0)
        response.leader = raft.leaderID
        response.raftIndex = state.commitIndex
        response.raftTerm = raft.term
        response.raftAppliedIndex = state.appliedIndex
        response.isLearner = state.isLearner
        if response.leader == 0 { response.errors.append(EtcdError.noLeader.status.message) }
        response.errors += alarms.get(.none).map(\.compactText)
        return response
    }
}

extension Date {
    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// major.minor of an etcd version string, for comparing cluster versions.
struct PeerVersion: Comparable {
    var major: Int
    var minor: Int

    init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.major = major
        self.minor = minor
    }

    static func < (a: PeerVersion, b: PeerVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}
