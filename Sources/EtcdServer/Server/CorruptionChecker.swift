import Dispatch
import EtcdProto
import Logging
import MVCC
import NIOCore
import Peer

/// etcd 3.5's corruption checks (`server/etcdserver/corrupt.go`), comparing this member's
/// HashKV with its peers' over the peer protocol (`GET /members/hashkv`):
///
/// - `initialCheck` (`--experimental-initial-corrupt-check`): a restarting member, before raft
///   runs, compares its hash at its current revision with every peer's; any mismatch at the same
///   compacted revision stops the start ("found data inconsistency with peers").
/// - `periodicCheck` (`--experimental-corrupt-check-time`): the leader compares its hash with
///   its followers' at its revision; a mismatch raises the CORRUPT alarm for the member at fault
///   (writes are then refused cluster-wide).
/// - `compactHashCheck` (`--experimental-compact-hash-check-enabled`, every
///   `--experimental-compact-hash-check-time`): the leader compares the hashes its compactions
///   recorded with its followers' at the same revisions.
///
/// Threading: the checks block on peer requests; they run on the start-up thread (initial) or
/// on `queue` (periodic ones), never on an event loop or the raft thread.
final class CorruptionChecker: @unchecked Sendable {
    private let core: EtcdServerCore
    private let peers: PeerTransport
    private let membership: MembershipStore
    private let logger: Logger
    /// etcd's `ReqTimeout()` per peer request.
    private let timeout: TimeAmount
    private let queue = DispatchQueue(label: "corruption-check")
    private var timers: [any DispatchSourceTimer] = []
    /// The newest compaction revision every peer has confirmed (etcd's `latestRevisionChecked`);
    /// `queue` only.
    private var latestRevisionChecked: Int64 = 0

    init(core: EtcdServerCore, peers: PeerTransport, membership: MembershipStore, timeout: TimeAmount, logger: Logger) {
        self.core = core
        self.peers = peers
        self.membership = membership
        self.timeout = timeout
        self.logger = logger
    }

    private var localID: String { hex(core.identity.memberID) }

    /// One answer per other member (etcd's `PeerHashByRev`).
    private func peerHashes(revision: Int64) -> [(id: UInt64, answer: PeerHashKVAnswer)] {
        let others = membership.current.sortedMembers.filter { $0.id != core.identity.memberID }
        let futures = others.map { ($0.id, peers.fetchHashKV(memberID: $0.id, urls: $0.peerURLs, revision: revision, timeout: timeout)) }
        return futures.map { id, future in (id, (try? future.wait()) ?? .failed("no answer")) }
    }

    // MARK: initial

    struct DataInconsistency: Error, CustomStringConvertible {
        var memberID: UInt64
        var description: String { "\(hex(memberID)) found data inconsistency with peers" }
    }

    func initialCheck() throws {
        logger.info("starting initial corruption check", metadata: ["local-member-id": "\(localID)", "timeout": "\(timeout)"])
        let local = try core.store.hashKV(revision: 0)
        var mismatches = 0
        for (id, answer) in peerHashes(revision: local.revision) {
            let fields: Logger.Metadata = [
                "local-member-id": "\(localID)", "local-member-revision": "\(local.revision)",
                "local-member-compact-revision": "\(local.compactRevision)", "local-member-hash": "\(local.hash)",
                "remote-peer-id": "\(hex(id))",
            ]
            switch answer {
            case .hash(let theirs) where theirs.hash != local.hash:
                var more = fields
                more["remote-peer-compact-revision"] = "\(theirs.compactRevision)"
                more["remote-peer-hash"] = "\(theirs.hash)"
                if theirs.compactRevision == local.compactRevision {
                    logger.warning("found different hash values from remote peer", metadata: more)
                    mismatches += 1
                } else {
                    logger.warning("found different compact revision values from remote peer", metadata: more)
                }
            case .hash:
                break
            case .futureRevision:
                logger.warning("cannot fetch hash from slow remote peer", metadata: fields)
            case .compacted:
                logger.warning("cannot fetch hash from remote peer; local member is behind", metadata: fields)
            case .failed:
                break  // logged by the transport
            }
        }
        if mismatches > 0 { throw DataInconsistency(memberID: core.identity.memberID) }
        logger.info("initial corruption checking passed; no corruption", metadata: ["local-member-id": "\(localID)"])
    }

    // MARK: periodic (leader)

    /// Starts the leader's periodic checks that are configured (0 turns one off).
    func startPeriodic(corruptCheckMilliseconds: Int, compactHashCheckMilliseconds: Int?) {
        if corruptCheckMilliseconds > 0 {
            logger.info("enabled corruption checking", metadata: ["local-member-id": "\(localID)", "interval": "\(corruptCheckMilliseconds)ms"])
            schedule(every: corruptCheckMilliseconds) { [weak self] in self?.periodicCheck() }
        }
        if let compactHashCheckMilliseconds, compactHashCheckMilliseconds > 0 {
            logger.info("enabled compaction hash check", metadata: ["local-member-id": "\(localID)", "interval": "\(compactHashCheckMilliseconds)ms"])
            schedule(every: compactHashCheckMilliseconds) { [weak self] in self?.compactHashCheck() }
        }
    }

    func stop() {
        queue.sync {
            for timer in timers { timer.cancel() }
            timers = []
        }
    }

    private func schedule(every milliseconds: Int, _ check: @escaping @Sendable () -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(milliseconds), repeating: .milliseconds(milliseconds))
        timer.setEventHandler { [weak self] in
            guard let self, self.core.raft.leaderID == self.core.identity.memberID else { return }
            check()
        }
        timer.resume()
        queue.sync { timers.append(timer) }
    }

    /// etcd's `PeriodicCheck`. `queue` only.
    func periodicCheck() {
        do {
            let before = try core.store.hashKV(revision: 0)
            let answers = peerHashes(revision: before.revision)
            let after = try core.store.hashKV(revision: 0)
            var alarmed = false
            func mismatch(_ id: UInt64) {
                if alarmed { return }
                alarmed = true
                triggerCorruptAlarm(id)
            }
            if after.hash != before.hash && after.revision == before.revision && after.compactRevision == before.compactRevision {
                logger.warning("found hash mismatch", metadata: [
                    "revision-1": "\(before.revision)", "compact-revision-1": "\(before.compactRevision)", "hash-1": "\(before.hash)",
                    "revision-2": "\(after.revision)", "compact-revision-2": "\(after.compactRevision)", "hash-2": "\(after.hash)",
                ])
                mismatch(core.identity.memberID)
            }
            var checked = 0
            for (id, answer) in answers {
                guard case .hash(let theirs) = answer else { continue }
                checked += 1
                let fields: Logger.Metadata = [
                    "leader-revision": "\(after.revision)", "leader-compact-revision": "\(after.compactRevision)", "leader-hash": "\(before.hash)",
                    "follower-revision": "\(theirs.revision)", "follower-compact-revision": "\(theirs.compactRevision)",
                    "follower-hash": "\(theirs.hash)", "follower-peer-id": "\(hex(id))",
                ]
                if theirs.revision > after.revision {
                    logger.warning("revision from follower must be less than or equal to leader's", metadata: fields)
                    mismatch(id)
                }
                if theirs.compactRevision > after.compactRevision {
                    logger.warning("compact revision from follower must be less than or equal to leader's", metadata: fields)
                    mismatch(id)
                }
                if theirs.compactRevision == before.compactRevision && theirs.hash != before.hash {
                    logger.warning("same compact revision then hashes must match", metadata: fields)
                    mismatch(id)
                }
            }
            logger.info("finished peer corruption check", metadata: ["number-of-peers-checked": "\(checked)"])
        } catch {
            logger.warning("failed to check hash KV", metadata: ["error": "\(error)"])
        }
    }

    /// etcd's `CompactHashCheck`: the newest recorded compaction hashes not yet confirmed by every
    /// peer, newest first, until one is. `queue` only.
    func compactHashCheck() {
        logger.info("starting compact hash check", metadata: ["local-member-id": "\(localID)"])
        let hashes = core.store.compactionHashes.all.filter { $0.revision > latestRevisionChecked }.sorted { $0.revision > $1.revision }
        for (i, hash) in hashes.enumerated() {
            let answers = peerHashes(revision: hash.revision)
            if answers.isEmpty { continue }
            var checked = 0
            for (id, answer) in answers {
                guard case .hash(let theirs) = answer, theirs.compactRevision == hash.compactRevision else { continue }
                if theirs.hash != hash.hash {
                    triggerCorruptAlarm(id)
                    logger.error("failed compaction hash check", metadata: [
                        "revision": "\(hash.revision)", "leader-hash": "\(hash.hash)", "follower-hash": "\(theirs.hash)",
                        "peer-id": "\(hex(id))",
                    ])
                    return
                }
                checked += 1
                logger.info("successfully checked hash on follower", metadata: ["revision": "\(hash.revision)", "peer-id": "\(hex(id))"])
            }
            if checked == answers.count {
                logger.info("successfully checked hash on whole cluster", metadata: [
                    "number-of-peers-checked": "\(checked)", "revision": "\(hash.revision)",
                ])
                latestRevisionChecked = max(latestRevisionChecked, hash.revision)
                logger.info("finished compaction hash check", metadata: ["number-of-hashes-checked": "\(i + 1)"])
                return
            }
            logger.warning("skipped revision in compaction hash check; was not able to check all peers", metadata: [
                "number-of-peers-checked": "\(checked)", "number-of-peers": "\(answers.count)", "revision": "\(hash.revision)",
            ])
        }
        logger.info("finished compaction hash check", metadata: ["number-of-hashes-checked": "\(hashes.count)"])
    }

    /// Raises the CORRUPT alarm for `memberID` through the log (etcd's `TriggerCorruptAlarm`).
    private func triggerCorruptAlarm(_ memberID: UInt64) {
        var request = InternalRaftRequest()
        request.alarm = AlarmRequest(action: .activate, memberID: memberID, alarm: .corrupt)
        core.propose(request) { [logger] result in
            if case .failure(let error) = result {
                logger.warning("failed to raise the corrupt alarm", metadata: ["member-id": "\(hex(memberID))", "error": "\(error)"])
            }
        }
    }
}
