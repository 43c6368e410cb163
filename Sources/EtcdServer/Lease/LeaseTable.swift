/// etcd's lessor (`lease/lessor.go`) as a value: the live leases with their TTLs and expiries,
/// and the schedule that finds expired ones. No threads, clock or storage: every method that
/// needs the time takes `nowNanoseconds` (a monotonic clock's reading), so tests drive it with
/// simulated time.
///
/// What is in here is the *timing* half of leases, which only matters on the leader (the
/// "primary"): when a lease expires, whether a keep-alive may still renew it. The durable half
/// (which leases exist, their TTLs, which keys they carry) is in the backend (`LeaseStore`),
/// changed by the apply transaction; the table follows it after each commit (`granted`,
/// `revoked`, `checkpointed`), so the two never disagree about which leases exist once a batch
/// is published.
///
/// Expiry is never decided here alone: `takeExpired` names leases whose time is up, and the
/// caller proposes a LeaseRevoke for each through the log, so every member deletes the same keys
/// at the same point of the log. A lease past its expiry can no longer be renewed (`renew`
/// answers `.expired`), so a keep-alive that was answered with a TTL never races a revoke.
struct LeaseTable {
    /// etcd's `MaxLeaseTTL`: a grant above this fails with "too large lease TTL".
    static let maxTTLSeconds: Int64 = 9_000_000_000
    /// etcd's `leaseRevokeRate`: expired leases revoked per second at most; each expiry round
    /// (every `revokeRoundNanoseconds`) takes half of it.
    static let revokeRatePerSecond = 1000
    static let revokeRoundNanoseconds: Int64 = 500_000_000
    static var revokeLimitPerRound: Int { revokeRatePerSecond / 2 }
    /// etcd's `defaultExpiredleaseRetryInterval`: an expired lease whose revoke has not been
    /// applied after this long is proposed again.
    static let revokeRetryNanoseconds: Int64 = 3_000_000_000
    /// The heap is rebuilt when it holds more dead entries than this (or than live leases).
    static let staleEntriesMax = 1024
    static let nanosecondsPerSecond: Int64 = 1_000_000_000

    struct LiveLease: Equatable, Sendable {
        let id: Int64
        /// Granted time to live, in seconds (the minimum TTL already applied).
        var ttlSeconds: Int64
        /// The remaining TTL of the last checkpoint; 0 when none, and then a refresh grants the
        /// full `ttlSeconds` (etcd's `remainingTTL`).
        var remainingTTLSeconds: Int64 = 0
        /// When the lease expires; nil while this member is not primary (etcd's `forever`).
        var expiryNanoseconds: Int64?
        /// Deadline of this lease's one live entry in the schedule; nil when it has none.
        var scheduledNanoseconds: Int64?

        /// What a refresh grants: the checkpointed remainder if there is one, else the full TTL.
        var refreshTTLSeconds: Int64 { remainingTTLSeconds > 0 ? remainingTTLSeconds : ttlSeconds }

        /// Time left at `now` (`Int64.max` for forever), possibly negative once expired.
        func remainingNanoseconds(at now: Int64) -> Int64 {
            guard let expiryNanoseconds else { return .max }
            return expiryNanoseconds &- now
        }
    }

    enum RenewOutcome: Equatable, Sendable {
        /// Renewed; the lease now lives `ttlSeconds` from now.
        case renewed(ttlSeconds: Int64)
        /// No such lease (never granted, or already revoked).
        case notFound
        /// Past its expiry and waiting for its revoke: it will not be renewed. etcd's keep-alive
        /// waits for the revoke and then answers TTL 0.
        case expired
        /// This member does not manage expiry (not the leader).
        case notPrimary
    }

    private(set) var leases: [Int64: LiveLease] = [:]
    private(set) var isPrimary = false
    private var schedule = ExpirySchedule()
    /// Schedule entries that no lease owns any more.
    private var staleEntries = 0

    init() {}

    var count: Int { leases.count }

    /// Entries in the schedule, live and stale (tests check it stays bounded).
    var scheduledEntries: Int { schedule.count }

    subscript(id: Int64) -> LiveLease? { leases[id] }

    // MARK: following the backend (after each commit)

    /// Loads the leases the backend holds (start-up): no expiry until `promote`.
    /// etcd's `initAndRecover` raises TTLs below the minimum to it.
    mutating func load(_ records: [(id: Int64, ttlSeconds: Int64, remainingTTLSeconds: Int64)], minTTLSeconds: Int64) {
        precondition(leases.isEmpty, "load into a table that has leases")
        for r in records {
            leases[r.id] = LiveLease(id: r.id, ttlSeconds: max(r.ttlSeconds, minTTLSeconds), remainingTTLSeconds: r.remainingTTLSeconds)
        }
    }

    /// A grant was committed: the lease lives its TTL from now (on the primary).
    mutating func granted(id: Int64, ttlSeconds: Int64, now: Int64) {
        if leases[id]?.scheduledNanoseconds != nil { staleEntries += 1 }
        var lease = LiveLease(id: id, ttlSeconds: ttlSeconds)
        if isPrimary {
            lease.expiryNanoseconds = Self.deadline(now, seconds: ttlSeconds)
            schedule(&lease, at: lease.expiryNanoseconds!)
        }
        leases[id] = lease
    }

    /// A revoke was committed. Returns whether the lease was known.
    @discardableResult
    mutating func revoked(id: Int64) -> Bool {
        guard let lease = leases.removeValue(forKey: id) else { return false }
        if lease.scheduledNanoseconds != nil {
            staleEntries += 1
            if staleEntries > max(Self.staleEntriesMax, leases.count) { rebuildSchedule() }
        }
        return true
    }

    /// A checkpoint was committed: the remainder a later promotion grants (etcd's `Checkpoint`).
    mutating func checkpointed(id: Int64, remainingTTLSeconds: Int64) {
        leases[id]?.remainingTTLSeconds = remainingTTLSeconds
    }

    // MARK: the primary's clock

    /// A keep-alive (etcd's `Renew`).
    mutating func renew(id: Int64, now: Int64) -> RenewOutcome {
        guard isPrimary else { return .notPrimary }
        guard var lease = leases[id] else { return .notFound }
        if lease.remainingNanoseconds(at: now) <= 0 { return .expired }
        // etcd clears the checkpointed remainder on renew (through the log, when one is set);
        // this table only uses it for the next promotion, so clearing it here is the same.
        lease.remainingTTLSeconds = 0
        lease.expiryNanoseconds = Self.deadline(now, seconds: lease.ttlSeconds)
        leases[id] = lease
        // The schedule entry stays where it is: when it comes due, `takeExpired` sees the
        // later expiry and moves it.
        return .renewed(ttlSeconds: lease.ttlSeconds)
    }

    /// Becomes primary (etcd's `Promote`): every lease gets its refresh TTL plus `extend` (the
    /// election timeout, so that leases survive the time without a leader), from now. With as
    /// many leases as the revoke rate, expiries that pile up in one second are spread so that at
    /// most three quarters of the rate expire per second.
    mutating func promote(extendNanoseconds: Int64, now: Int64) {
        isPrimary = true
        for id in leases.keys {
            let ttl = leases[id]!.refreshTTLSeconds
            leases[id]!.expiryNanoseconds = Self.deadline(now, seconds: ttl, plusNanoseconds: extendNanoseconds)
        }
        if leases.count >= Self.revokeRatePerSecond { spreadPiledUpExpiries(extendNanoseconds: extendNanoseconds, now: now) }
        rebuildSchedule()
    }

    /// Stops being primary (etcd's `Demote`): leases no longer expire here.
    mutating func demote() {
        isPrimary = false
        for id in leases.keys {
            leases[id]!.expiryNanoseconds = nil
            leases[id]!.scheduledNanoseconds = nil
        }
        schedule.removeAll()
        staleEntries = 0
    }

    /// Expired leases to revoke now, at most `limit`, earliest first (etcd's
    /// `findExpiredLeases`). Each one taken is looked at again only after
    /// `revokeRetryNanoseconds`, in case its revoke never commits.
    mutating func takeExpired(now: Int64, limit: Int) -> [Int64] {
        var expired: [Int64] = []
        guard isPrimary else { return expired }
        while expired.count < limit, let top = schedule.first, top.deadlineNanoseconds <= now {
            schedule.popFirst()
            guard var lease = leases[top.id], lease.scheduledNanoseconds == top.deadlineNanoseconds else {
                staleEntries = max(0, staleEntries - 1)
                continue
            }
            lease.scheduledNanoseconds = nil
            guard let expiry = lease.expiryNanoseconds else {
                leases[top.id] = lease
                continue
            }
            if expiry > now {
                // Renewed since it was scheduled.
                schedule(&lease, at: expiry)
            } else {
                expired.append(lease.id)
                schedule(&lease, at: now &+ Self.revokeRetryNanoseconds)
            }
            leases[top.id] = lease
        }
        return expired
    }

    /// When `takeExpired` may next find something (nil: nothing scheduled). May be early (a
    /// renewed or revoked lease's entry), never late.
    var nextDeadlineNanoseconds: Int64? { isPrimary ? schedule.first?.deadlineNanoseconds : nil }

    // MARK: queries

    /// etcd's `LeaseTimeToLive`: whole seconds left (truncated toward zero, negative once
    /// expired) and the granted TTL; nil for an unknown lease.
    func timeToLive(id: Int64, now: Int64) -> (ttlSeconds: Int64, grantedTTLSeconds: Int64)? {
        guard let lease = leases[id] else { return nil }
        let remaining = lease.remainingNanoseconds(at: now)
        return (remaining / Self.nanosecondsPerSecond, lease.ttlSeconds)
    }

    /// Every lease ID, soonest expiry first (etcd's `Leases`; ties by ID).
    func idsByExpiry() -> [Int64] {
        leases.values.sorted { a, b in
            let x = a.expiryNanoseconds ?? .max, y = b.expiryNanoseconds ?? .max
            return x < y || (x == y && a.id < b.id)
        }.map(\.id)
    }

    // MARK: internals

    /// `now` plus `seconds` plus `plusNanoseconds`, saturating at `Int64.max` (a lease of etcd's
    /// maximum TTL, 9e9 s, is 9e18 ns: one more year of uptime would overflow the sum).
    static func deadline(_ now: Int64, seconds: Int64, plusNanoseconds: Int64 = 0) -> Int64 {
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: nanosecondsPerSecond)
        if overflow { return seconds < 0 ? .min : .max }
        return saturatingSum(saturatingSum(now, nanoseconds), plusNanoseconds)
    }

    static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { return b > 0 ? .max : .min }
        return sum
    }

    private mutating func schedule(_ lease: inout LiveLease, at deadline: Int64) {
        lease.scheduledNanoseconds = deadline
        schedule.push(.init(deadlineNanoseconds: deadline, id: lease.id))
    }

    private mutating func rebuildSchedule() {
        var entries: [ExpirySchedule.Entry] = []
        entries.reserveCapacity(leases.count)
        for id in leases.keys {
            guard let expiry = leases[id]!.expiryNanoseconds else {
                leases[id]!.scheduledNanoseconds = nil
                continue
            }
            leases[id]!.scheduledNanoseconds = expiry
            entries.append(.init(deadlineNanoseconds: expiry, id: id))
        }
        schedule.rebuild(entries)
        staleEntries = 0
    }

    /// etcd's pile-up adjustment in `Promote`, on integer nanoseconds.
    private mutating func spreadPiledUpExpiries(extendNanoseconds: Int64, now: Int64) {
        let second = Self.nanosecondsPerSecond
        let ordered = leases.values.sorted { a, b in
            let x = a.remainingNanoseconds(at: now), y = b.remainingNanoseconds(at: now)
            return x < y || (x == y && a.id < b.id)
        }
        guard let first = ordered.first else { return }
        var baseWindow = first.remainingNanoseconds(at: now)
        var nextWindow = baseWindow &+ second
        var expires = 0
        let targetExpiresPerSecond = (3 * Self.revokeRatePerSecond) / 4
        for lease in ordered {
            let remaining = lease.remainingNanoseconds(at: now)
            if remaining > nextWindow {
                baseWindow = remaining
                nextWindow = baseWindow &+ second
                expires = 1
                continue
            }
            expires += 1
            if expires <= targetExpiresPerSecond { continue }
            var delay = Int64(Double(second) * (Double(expires) / Double(targetExpiresPerSecond)))
            // Leases already `remaining - baseWindow` later than the window need less delay.
            delay -= remaining - baseWindow
            nextWindow = baseWindow &+ delay
            leases[lease.id]!.expiryNanoseconds = Self.deadline(now, seconds: lease.refreshTTLSeconds, plusNanoseconds: Self.saturatingSum(delay, extendNanoseconds))
        }
    }
}
