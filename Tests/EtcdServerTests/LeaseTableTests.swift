import Testing
@testable import EtcdServer

/// The lessor's timing state machine on simulated time: nanosecond readings passed in, no clock.
@Suite struct LeaseTableTests {
    static let second = LeaseTable.nanosecondsPerSecond
    let s = LeaseTableTests.second

    /// (remaining, granted) as an array, for `#expect`.
    func ttl(_ t: LeaseTable, _ id: Int64, _ now: Int64) -> [Int64]? {
        t.timeToLive(id: id, now: now).map { [$0.ttlSeconds, $0.grantedTTLSeconds] }
    }

    func primary(at now: Int64 = 0) -> LeaseTable {
        var t = LeaseTable()
        t.promote(extendNanoseconds: 0, now: now)
        return t
    }

    @Test func aGrantedLeaseExpiresExactlyAfterItsTTL() {
        var t = primary()
        t.granted(id: 7, ttlSeconds: 5, now: 0)
        #expect(t.nextDeadlineNanoseconds == 5 * s)
        #expect(t.takeExpired(now: 5 * s - 1, limit: 10).isEmpty)
        #expect(t.takeExpired(now: 5 * s, limit: 10) == [7])
    }

    @Test func aRenewalMovesTheExpiryAndTheOldScheduleEntryFindsNothing() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 10, now: 0)
        #expect(t.renew(id: 1, now: 4 * s) == .renewed(ttlSeconds: 10))
        #expect(t.takeExpired(now: 10 * s, limit: 10).isEmpty)
        #expect(t.nextDeadlineNanoseconds == 14 * s)
        #expect(t.takeExpired(now: 14 * s - 1, limit: 10).isEmpty)
        #expect(t.takeExpired(now: 14 * s, limit: 10) == [1])
    }

    @Test func aLeasePastItsExpiryCannotBeRenewed() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 2, now: 0)
        #expect(t.renew(id: 1, now: 2 * s) == .expired)
        // Still expired after its revoke was proposed, until the revoke is published.
        #expect(t.takeExpired(now: 2 * s, limit: 10) == [1])
        #expect(t.renew(id: 1, now: 2 * s + 1) == .expired)
        t.revoked(id: 1)
        #expect(t.renew(id: 1, now: 3 * s) == .notFound)
    }

    @Test func renewalsOfUnknownLeasesAndOnAFollowerAreRefused() {
        var t = LeaseTable()
        t.granted(id: 1, ttlSeconds: 5, now: 0)
        #expect(t.renew(id: 1, now: 0) == .notPrimary)
        t.promote(extendNanoseconds: 0, now: 0)
        #expect(t.renew(id: 2, now: 0) == .notFound)
    }

    @Test func anExpiredLeaseIsProposedAgainOnlyAfterTheRetryInterval() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 2, now: 0)
        #expect(t.takeExpired(now: 2 * s, limit: 10) == [1])
        #expect(t.takeExpired(now: 2 * s + LeaseTable.revokeRetryNanoseconds - 1, limit: 10).isEmpty)
        #expect(t.takeExpired(now: 2 * s + LeaseTable.revokeRetryNanoseconds, limit: 10) == [1])
    }

    @Test func aRevokedLeaseIsNeverProposed() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 2, now: 0)
        let first = t.revoked(id: 1)
        let second = t.revoked(id: 1)
        #expect(first && !second)
        #expect(t.takeExpired(now: 100 * s, limit: 10).isEmpty)
    }

    @Test func expiredLeasesComeEarliestFirstAndAtMostTheLimit() {
        var t = primary()
        for (id, ttl) in [(1, 9), (2, 3), (3, 5), (4, 7)] as [(Int64, Int64)] { t.granted(id: id, ttlSeconds: ttl, now: 0) }
        #expect(t.takeExpired(now: 8 * s, limit: 2) == [2, 3])
        #expect(t.takeExpired(now: 8 * s, limit: 2) == [4])
        #expect(t.takeExpired(now: 9 * s, limit: 2) == [1])
    }

    @Test func timeToLiveTruncatesToWholeSecondsAndGoesNegativeOnceExpired() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 10, now: 0)
        #expect(ttl(t, 1, 1) == [9, 10])
        #expect(ttl(t, 1, 0) == [10, 10])
        #expect(ttl(t, 1, 10 * s + s / 2) == [0, 10])
        #expect(ttl(t, 1, 12 * s) == [-2, 10])
        #expect(t.timeToLive(id: 2, now: 0) == nil)
    }

    @Test func leasesAreListedSoonestExpiryFirst() {
        var t = primary()
        t.granted(id: 5, ttlSeconds: 30, now: 0)
        t.granted(id: 6, ttlSeconds: 10, now: 0)
        t.granted(id: 7, ttlSeconds: 20, now: 0)
        #expect(t.idsByExpiry() == [6, 7, 5])
    }

    @Test func aPromotionRestartsEveryLeaseWithItsFullTTLPlusTheExtension() {
        // A restart: the records come back from the backend, the member leads again.
        var t = LeaseTable()
        t.load([(id: 1, ttlSeconds: 10, remainingTTLSeconds: 0), (id: 2, ttlSeconds: 1, remainingTTLSeconds: 0)], minTTLSeconds: 2)
        #expect(t[2]?.ttlSeconds == 2)  // raised to the minimum, as etcd's recovery does
        #expect(t.nextDeadlineNanoseconds == nil)
        let now: Int64 = 1_000 * s
        t.promote(extendNanoseconds: s, now: now)
        #expect(ttl(t, 1, now) == [11, 10])
        #expect(t.takeExpired(now: now + 3 * s - 1, limit: 10).isEmpty)
        #expect(t.takeExpired(now: now + 3 * s, limit: 10) == [2])
        t.revoked(id: 2)
        #expect(t.takeExpired(now: now + 11 * s - 1, limit: 10).isEmpty)
        #expect(t.takeExpired(now: now + 11 * s, limit: 10) == [1])
    }

    @Test func aPromotionUsesACheckpointedRemainderAndARenewalClearsIt() {
        var t = LeaseTable()
        t.load([(id: 1, ttlSeconds: 100, remainingTTLSeconds: 0)], minTTLSeconds: 1)
        t.checkpointed(id: 1, remainingTTLSeconds: 30)
        t.promote(extendNanoseconds: 0, now: 0)
        #expect(ttl(t, 1, 0) == [30, 100])
        #expect(t.renew(id: 1, now: 0) == .renewed(ttlSeconds: 100))
        t.demote()
        t.promote(extendNanoseconds: 0, now: 0)
        #expect(ttl(t, 1, 0) == [100, 100])
    }

    @Test func aDemotedTableExpiresNothingAndItsLeasesLiveForever() {
        var t = primary()
        t.granted(id: 1, ttlSeconds: 2, now: 0)
        t.demote()
        #expect(t.takeExpired(now: 100 * s, limit: 10).isEmpty)
        #expect(t.nextDeadlineNanoseconds == nil)
        #expect(t.timeToLive(id: 1, now: 0)?.ttlSeconds == Int64.max / s)
        t.granted(id: 2, ttlSeconds: 2, now: 0)
        #expect(t[2]?.expiryNanoseconds == nil)
    }

    @Test func leasesPiledUpInOneSecondArePromotedToExpireAtMostThreeQuartersOfTheRevokeRatePerSecond() {
        var t = LeaseTable()
        let n = 3 * LeaseTable.revokeRatePerSecond
        t.load((1...n).map { (id: Int64($0), ttlSeconds: 10, remainingTTLSeconds: 0) }, minTTLSeconds: 1)
        t.promote(extendNanoseconds: 0, now: 0)
        let expiries = (1...n).map { t[Int64($0)]!.expiryNanoseconds! }.sorted()
        #expect(expiries.first == 10 * s)
        // Every one-second window holds at most 750 (+1 for the window's own boundary) expiries.
        let target = 3 * LeaseTable.revokeRatePerSecond / 4
        var j = 0
        for i in expiries.indices {
            while j < expiries.count && expiries[j] < expiries[i] + s { j += 1 }
            #expect(j - i <= target + 1)
            if j - i > target + 1 { break }
        }
        // And all of them still expire (the expiry round takes them, a limit at a time, and
        // their revokes are published).
        var taken = 0
        var now = 10 * s
        while taken < n && now < 30 * s {
            let ids = t.takeExpired(now: now, limit: LeaseTable.revokeLimitPerRound)
            for id in ids { t.revoked(id: id) }
            taken += ids.count
            now += LeaseTable.revokeRoundNanoseconds
        }
        #expect(taken == n)
        #expect(t.count == 0)
    }

    @Test func theScheduleStaysBoundedUnderGrantsAndRevokes() {
        var t = primary()
        for id in Int64(1)...50_000 {
            t.granted(id: id, ttlSeconds: 1_000_000, now: 0)
            t.revoked(id: id)
        }
        #expect(t.count == 0)
        #expect(t.scheduledEntries <= LeaseTable.staleEntriesMax + 1)
    }

    @Test func theScheduleHandsOutEntriesInDeadlineOrder() {
        var rng = SplitMix64(seed: 42)
        var schedule = ExpirySchedule()
        var model: [ExpirySchedule.Entry] = []
        for i in 0..<2_000 {
            let e = ExpirySchedule.Entry(deadlineNanoseconds: Int64(rng.next() % 1000), id: Int64(i))
            schedule.push(e)
            model.append(e)
            if rng.next() % 3 == 0 {
                let popped = schedule.popFirst()
                let expected = model.min { ($0.deadlineNanoseconds, $0.id) < ($1.deadlineNanoseconds, $1.id) }
                #expect(popped == expected)
                model.removeAll { $0 == expected }
            }
        }
        var last: ExpirySchedule.Entry? = nil
        while let e = schedule.popFirst() {
            if let last { #expect((last.deadlineNanoseconds, last.id) <= (e.deadlineNanoseconds, e.id)) }
            last = e
        }
    }
}

/// A small seeded generator (SplitMix64) so that a failing sequence replays.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
