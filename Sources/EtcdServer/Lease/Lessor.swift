import EtcdProto
import MVCC
import Synchronization

/// The member's live leases: a `LeaseTable` behind a lock, read by every event loop (keep-alive,
/// time-to-live, list) and changed by the raft thread (after each committed batch, and by the
/// expiry round). Owns the clock; the table never reads it.
///
/// The clock is read inside the lock: a keep-alive and the expiry round are then ordered by the
/// lock and by time alike, so a lease the round has found expired can never be renewed after
/// (a renewal that read the clock earlier but took the lock later would otherwise succeed).
///
/// Who calls what: `published` after a batch commits (raft thread), `takeExpired` from the expiry
/// round (raft thread), `promote`/`demote` when this member gains or loses leadership, the
/// queries from any thread.
final class Lessor: Sendable {
    typealias RenewOutcome = LeaseTable.RenewOutcome

    private struct State {
        var table = LeaseTable()
        /// Keep-alives of expired leases, answered when the revoke is published (etcd's Renew
        /// waits on the lease's `revokec`).
        var revokeWaiters: [Int64: [@Sendable (RenewOutcome) -> Void]] = [:]
    }

    private let state = Mutex(State())
    let clock: any LeaseClock
    /// Told of every successful renewal (metrics); set once at start-up, before clients are served.
    nonisolated(unsafe) var onRenewed: (@Sendable () -> Void)?
    /// The minimum TTL a grant gets (`LeaseApplier` applies it; recovery too).
    let minTTLSeconds: Int64

    init(minTTLSeconds: Int64, clock: any LeaseClock = MonotonicLeaseClock()) {
        self.minTTLSeconds = minTTLSeconds
        self.clock = clock
    }

    /// etcd's minimum lease TTL: one and a half election timeouts, in whole seconds rounded up
    /// (`etcdserver/server.go`: `(3*ElectionTicks)/2` heartbeats).
    static func minTTLSeconds(electionTicks: Int, heartbeatMilliseconds: Int) -> Int64 {
        let milliseconds = Int64((3 * electionTicks) / 2) * Int64(heartbeatMilliseconds)
        return (milliseconds + 999) / 1000
    }

    // MARK: start-up and leadership

    /// Loads the leases the backend holds. Start-up, before `promote`.
    func recover(_ records: [Lease]) {
        let minTTL = minTTLSeconds
        state.withLock { s in
            s.table.load(records.map { ($0.id, $0.ttl, $0.remainingTTL) }, minTTLSeconds: minTTL)
        }
    }

    /// The store was replaced by a leader's snapshot (this member follows): the leases are the
    /// snapshot's; renew waiters learn nothing more here (a follower forwards renewals).
    func restore(_ records: [Lease]) {
        let minTTL = minTTLSeconds
        let waiters = state.withLock { s -> [@Sendable (RenewOutcome) -> Void] in
            s.table = LeaseTable()
            s.table.load(records.map { ($0.id, $0.ttl, $0.remainingTTL) }, minTTLSeconds: minTTL)
            defer { s.revokeWaiters = [:] }
            return s.revokeWaiters.values.flatMap { $0 }
        }
        for w in waiters { w(.notPrimary) }
    }

    /// This member became leader: leases expire from now on, each after its TTL plus `extend`
    /// (etcd extends by the election timeout). On a restart every lease so gets its full TTL
    /// again, as in etcd.
    func promote(extendNanoseconds: Int64) {
        state.withLock { $0.table.promote(extendNanoseconds: extendNanoseconds, now: clock.nowNanoseconds) }
    }

    func demote() {
        let waiters = state.withLock { s in
            s.table.demote()
            defer { s.revokeWaiters.removeAll() }
            return s.revokeWaiters
        }
        for callbacks in waiters.values { for callback in callbacks { callback(.notPrimary) } }
    }

    var isPrimary: Bool { state.withLock { $0.table.isPrimary } }

    // MARK: following the log (raft thread, after commit)

    /// Brings the table up to date with the lease requests of a committed batch; call after the
    /// commit and before the proposals are completed (so a client that got a lease ID can use it
    /// in a keep-alive at once).
    func published<Requests: Sequence<InternalRaftRequest>>(_ requests: Requests, results: [Result<ApplyResult, EtcdError>]) {
        var revokedIDs: [Int64] = []
        state.withLock { s in
            let now = clock.nowNanoseconds
            for (i, request) in requests.enumerated() {
                guard case .success(let applied) = results[i] else { continue }
                switch applied {
                case .leaseGrant(let response):
                    s.table.granted(id: response.id, ttlSeconds: response.ttl, now: now)
                case .leaseRevoke:
                    if let id = request.leaseRevoke?.id, s.table.revoked(id: id) { revokedIDs.append(id) }
                case .leaseCheckpoint:
                    for c in request.leaseCheckpoint?.checkpoints ?? [] {
                        s.table.checkpointed(id: c.id, remainingTTLSeconds: c.remainingTTL)
                    }
                default:
                    continue
                }
            }
        }
        guard !revokedIDs.isEmpty else { return }
        let waiters = state.withLock { s in revokedIDs.compactMap { s.revokeWaiters.removeValue(forKey: $0) } }
        for callbacks in waiters { for callback in callbacks { callback(.notFound) } }
    }

    /// Whether a committed batch may have changed leases (so `published` has work).
    static func touchesLeases(_ request: InternalRaftRequest) -> Bool {
        request.leaseGrant != nil || request.leaseRevoke != nil || request.leaseCheckpoint != nil
    }

    // MARK: expiry (raft thread)

    /// Expired leases to propose revokes for (at most `limit`); see `LeaseTable.takeExpired`.
    func takeExpired(limit: Int) -> [Int64] {
        state.withLock { $0.table.takeExpired(now: clock.nowNanoseconds, limit: limit) }
    }

    /// Nanoseconds until the next lease may expire (nil: none scheduled).
    var nanosecondsUntilNextDeadline: Int64? {
        let now = clock.nowNanoseconds
        return state.withLock { $0.table.nextDeadlineNanoseconds }.map { LeaseTable.saturatingSum($0, now == .min ? .max : -now) }
    }

    // MARK: queries and keep-alive (any thread)

    /// Renews `id`. For a lease past its expiry, returns nil and calls `whenSettled` once the
    /// revoke is published (`.notFound`) or this member stops leading (`.notPrimary`).
    func renew(_ id: Int64, whenSettled: @escaping @Sendable (RenewOutcome) -> Void) -> RenewOutcome? {
        let outcome: RenewOutcome? = state.withLock { s in
            let outcome = s.table.renew(id: id, now: clock.nowNanoseconds)
            guard outcome == .expired else { return outcome }
            s.revokeWaiters[id, default: []].append(whenSettled)
            return nil
        }
        if case .renewed? = outcome { onRenewed?() }
        return outcome
    }

    func timeToLive(_ id: Int64) -> (ttlSeconds: Int64, grantedTTLSeconds: Int64)? {
        state.withLock { $0.table.timeToLive(id: id, now: clock.nowNanoseconds) }
    }

    func idsByExpiry() -> [Int64] {
        state.withLock { $0.table.idsByExpiry() }
    }

    var count: Int { state.withLock { $0.table.count } }
}
