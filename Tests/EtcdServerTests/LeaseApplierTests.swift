import EtcdProto
import Foundation
import Logging
import MVCC
import Storage
import Synchronization
import Testing
@testable import EtcdServer

/// A clock tests move by hand.
final class ManualLeaseClock: LeaseClock {
    private let now = Atomic<Int64>(0)
    var nowNanoseconds: Int64 { now.load(ordering: .relaxed) }
    func advance(seconds: Double) { now.add(Int64(seconds * 1e9), ordering: .relaxed) }
}

/// Leases through the applier over a real LMDB store: what the log's lease entries and the KV
/// writes do to the backend, and what the lessor sees after each commit.
@Suite struct LeaseApplierTests {
    final class Fixture {
        let dir = NSTemporaryDirectory() + "lease-applier-\(UUID().uuidString)"
        var env: LMDBEnvironment
        var store: MVCCStore
        var leaseStore: LeaseStore
        var lessor: Lessor
        var applier: Applier
        let clock = ManualLeaseClock()
        static let minTTL: Int64 = 2

        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            (env, store, leaseStore, lessor, applier) = try Self.open(dir, clock)
            lessor.promote(extendNanoseconds: 0)
        }

        static func open(_ dir: String, _ clock: ManualLeaseClock) throws -> (LMDBEnvironment, MVCCStore, LeaseStore, Lessor, Applier) {
            let env = try LMDBEnvironment(path: dir + "/db", mapSizeBytes: 32 << 20, maxReaders: 16, maxDatabases: 8)
            let store = try MVCCStore(environment: env)
            let leaseStore = try LeaseStore(store: store)
            let lessor = Lessor(minTTLSeconds: minTTL, clock: clock)
            lessor.recover(try store.read { try leaseStore.records(in: $0.backend) })
            let applier = Applier(logger: Logger(label: "test"), alarms: try AlarmStore(store: store),
                                  leases: LeaseApplier(store: leaseStore, lessor: lessor))
            return (env, store, leaseStore, lessor, applier)
        }

        /// A restart: close, reopen, recover, lead again.
        func restart(extendNanoseconds: Int64 = 0) throws {
            env.close()
            (env, store, leaseStore, lessor, applier) = try Self.open(dir, clock)
            lessor.promote(extendNanoseconds: extendNanoseconds)
        }

        deinit {
            env.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        /// Applies `requests` as one batch (one write transaction) and publishes it, as the raft
        /// loop does.
        @discardableResult
        func batch(_ requests: [InternalRaftRequest]) throws -> [Result<ApplyResult, EtcdError>] {
            let results = try store.write { txn in try requests.map { try applier.apply($0, txn: &txn) } }
            lessor.published(requests, results: results)
            return results
        }

        @discardableResult
        func apply(_ request: InternalRaftRequest) throws -> Result<ApplyResult, EtcdError> {
            try batch([request])[0]
        }

        @discardableResult
        func grant(_ id: Int64, ttl: Int64) throws -> Result<ApplyResult, EtcdError> {
            var r = InternalRaftRequest()
            r.leaseGrant = LeaseGrantRequest(ttl: ttl, id: id)
            return try apply(r)
        }

        @discardableResult
        func revoke(_ id: Int64) throws -> Result<ApplyResult, EtcdError> {
            var r = InternalRaftRequest()
            r.leaseRevoke = LeaseRevokeRequest(id: id)
            return try apply(r)
        }

        static func put(_ key: String, lease: Int64 = 0, ignoreLease: Bool = false) -> InternalRaftRequest {
            var r = InternalRaftRequest()
            r.put = PutRequest(key: Array(key.utf8), value: Array("v".utf8), lease: lease)
            r.put!.ignoreLease = ignoreLease
            return r
        }

        @discardableResult
        func put(_ key: String, lease: Int64 = 0, ignoreLease: Bool = false) throws -> Result<ApplyResult, EtcdError> {
            try apply(Self.put(key, lease: lease, ignoreLease: ignoreLease))
        }

        func delete(_ key: String, rangeEnd: String = "") throws {
            var r = InternalRaftRequest()
            r.deleteRange = DeleteRangeRequest(key: Array(key.utf8), rangeEnd: Array(rangeEnd.utf8))
            _ = try apply(r).get()
        }

        func keys(of id: Int64) throws -> [String] {
            try store.read { try leaseStore.keys(of: id, in: $0.backend) }.map { String(decoding: $0, as: UTF8.self) }
        }

        func liveKeys() throws -> [String] {
            try store.read { try $0.range(KeyRange(key: [0], rangeEnd: [0]), options: RangeOptions()) }.kvs.map { String(decoding: $0.key, as: UTF8.self) }
        }

        func lease(of key: String) throws -> Int64? {
            try store.read { try $0.range(.single(Array(key.utf8)), options: RangeOptions()) }.kvs.first?.lease
        }
    }

    func failure(_ r: Result<ApplyResult, EtcdError>) -> EtcdError? {
        if case .failure(let e) = r { return e }
        return nil
    }

    // MARK: grant

    @Test func aGrantIsPersistedAndPublishedWithItsTTL() throws {
        let f = try Fixture()
        guard case .success(.leaseGrant(let response)) = try f.grant(5, ttl: 10) else { Issue.record("no grant"); return }
        #expect(response.id == 5 && response.ttl == 10 && response.header?.revision == 1)
        #expect(try f.store.read { try f.leaseStore.record(5, in: $0.backend) } == Lease(id: 5, ttl: 10))
        #expect(f.lessor.timeToLive(5)?.grantedTTLSeconds == 10)
        #expect(f.store.meta.currentRevision == 1)  // a grant changes no key
    }

    @Test func aTTLBelowTheMinimumIsRaisedToItAndOneAboveTheMaximumIsRefused() throws {
        let f = try Fixture()
        for (id, ttl) in [(1, 0), (2, -5), (3, 1)] as [(Int64, Int64)] {
            guard case .success(.leaseGrant(let response)) = try f.grant(id, ttl: ttl) else { Issue.record("no grant"); return }
            #expect(response.ttl == Fixture.minTTL)
        }
        #expect(failure(try f.grant(4, ttl: LeaseTable.maxTTLSeconds + 1)) == .leaseTTLTooLarge)
        guard case .success(.leaseGrant(let max)) = try f.grant(5, ttl: LeaseTable.maxTTLSeconds) else { Issue.record("no grant"); return }
        #expect(max.ttl == LeaseTable.maxTTLSeconds)
    }

    @Test func aTakenIDIsLeaseExistsAndIDZeroIsNotFound() throws {
        let f = try Fixture()
        try f.grant(5, ttl: 10)
        #expect(failure(try f.grant(5, ttl: 20)) == .leaseExists)
        #expect(failure(try f.grant(0, ttl: 20)) == .leaseNotFound)
        #expect(f.lessor.timeToLive(5)?.grantedTTLSeconds == 10)
    }

    @Test func theMinimumTTLIsOneAndAHalfElectionTimeoutsRoundedUpToSeconds() {
        #expect(Lessor.minTTLSeconds(electionTicks: 10, heartbeatMilliseconds: 100) == 2)  // etcd's defaults: 1.5 s
        #expect(Lessor.minTTLSeconds(electionTicks: 10, heartbeatMilliseconds: 200) == 3)
        #expect(Lessor.minTTLSeconds(electionTicks: 5, heartbeatMilliseconds: 100) == 1)  // (3*5)/2 = 7 ticks: 0.7 s
        #expect(Lessor.minTTLSeconds(electionTicks: 50, heartbeatMilliseconds: 100) == 8)
    }

    // MARK: attach / detach

    @Test func aPutWithALeaseAttachesTheKeyAndAnUnknownLeaseIsNotFound() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        _ = try f.put("a", lease: 1).get()
        _ = try f.put("b", lease: 1).get()
        #expect(try f.keys(of: 1) == ["a", "b"])
        #expect(try f.lease(of: "a") == 1)
        #expect(failure(try f.put("c", lease: 99)) == .leaseNotFound)
        #expect(try f.liveKeys() == ["a", "b"])
    }

    @Test func aPutWithoutALeaseDetachesAndAPutWithAnotherLeaseMovesTheKey() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        try f.grant(2, ttl: 10)
        _ = try f.put("a", lease: 1).get()
        _ = try f.put("b", lease: 1).get()
        _ = try f.put("a").get()
        #expect(try f.keys(of: 1) == ["b"])
        _ = try f.put("b", lease: 2).get()
        #expect(try f.keys(of: 1) == [])
        #expect(try f.keys(of: 2) == ["b"])
    }

    @Test func ignoreLeaseKeepsTheKeyAttached() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        _ = try f.put("a", lease: 1).get()
        _ = try f.put("a", ignoreLease: true).get()
        #expect(try f.lease(of: "a") == 1)
        #expect(try f.keys(of: 1) == ["a"])
    }

    @Test func aDeleteDetachesEveryDeletedKey() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        for k in ["a", "b", "c"] { _ = try f.put(k, lease: 1).get() }
        try f.delete("a", rangeEnd: "c")
        #expect(try f.keys(of: 1) == ["c"])
    }

    @Test func txnPutsAndDeletesAttachAndDetach() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        _ = try f.put("old", lease: 1).get()
        var t = TxnRequest()
        var put = RequestOp()
        put.request = .requestPut(PutRequest(key: Array("new".utf8), value: [], lease: 1))
        var del = RequestOp()
        del.request = .requestDeleteRange(DeleteRangeRequest(key: Array("old".utf8)))
        t.success = [put, del]
        var r = InternalRaftRequest()
        r.txn = t
        _ = try f.apply(r).get()
        #expect(try f.keys(of: 1) == ["new"])
        // A txn put naming an unknown lease fails before anything is written.
        t.success = [put]
        t.success[0].request = .requestPut(PutRequest(key: Array("x".utf8), value: [], lease: 77))
        r.txn = t
        #expect(failure(try f.apply(r)) == .leaseNotFound)
        #expect(try f.liveKeys() == ["new"])
    }

    @Test func aGrantAndAPutUnderItInOneBatchBothApply() throws {
        let f = try Fixture()
        var g = InternalRaftRequest()
        g.leaseGrant = LeaseGrantRequest(ttl: 10, id: 3)
        let results = try f.batch([g, Fixture.put("k", lease: 3)])
        _ = try results[1].get()
        #expect(try f.keys(of: 3) == ["k"])
    }

    @Test func aLongestKeyCanBeAttached() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        let key = String(repeating: "k", count: LMDBEnvironment.maxKeyBytes)
        _ = try f.put(key, lease: 1).get()
        #expect(try f.keys(of: 1) == [key])
        _ = try f.revoke(1).get()
        #expect(try f.liveKeys() == [])
    }

    // MARK: revoke

    @Test func aRevokeDeletesTheAttachedKeysInOneRevisionAndForgetsTheLease() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        for k in ["b", "a", "c"] { _ = try f.put(k, lease: 1).get() }
        _ = try f.put("other").get()
        let before = f.store.meta.currentRevision
        var changes: [MVCCChange] = []
        var request = InternalRaftRequest()
        request.leaseRevoke = LeaseRevokeRequest(id: 1)
        let results = try f.store.write { txn in
            let r = try f.applier.apply(request, txn: &txn)
            changes = txn.batchChanges
            return [r]
        }
        f.lessor.published([request], results: results)
        guard case .success(.leaseRevoke(let response)) = results[0] else { Issue.record("no revoke"); return }
        #expect(response.header?.revision == before + 1)
        #expect(f.store.meta.currentRevision == before + 1)
        // Watchers see three deletes at one revision, in key order.
        #expect(changes.map { String(decoding: $0.kv.key, as: UTF8.self) } == ["a", "b", "c"])
        #expect(changes.allSatisfy { $0.isDelete && $0.kv.modRevision == before + 1 })
        #expect(try f.liveKeys() == ["other"])
        #expect(try f.keys(of: 1) == [])
        #expect(try f.store.read { try f.leaseStore.record(1, in: $0.backend) } == nil)
        #expect(f.lessor.timeToLive(1) == nil)
        #expect(failure(try f.revoke(1)) == .leaseNotFound)
    }

    @Test func revokingALeaseWithoutKeysChangesNoRevision() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        _ = try f.revoke(1).get()
        #expect(f.store.meta.currentRevision == 1)
    }

    @Test func aKeyMovedToAnotherLeaseSurvivesTheRevokeOfTheFirst() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        try f.grant(2, ttl: 10)
        _ = try f.put("a", lease: 1).get()
        _ = try f.put("a", lease: 2).get()
        _ = try f.revoke(1).get()
        #expect(try f.liveKeys() == ["a"])
        _ = try f.revoke(2).get()
        #expect(try f.liveKeys() == [])
    }

    // MARK: restart

    @Test func leasesAndTheirKeysSurviveARestartAndTheTTLStartsAgain() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 10)
        _ = try f.put("a", lease: 1).get()
        f.clock.advance(seconds: 8)
        #expect(f.lessor.timeToLive(1)?.ttlSeconds == 2)
        try f.restart(extendNanoseconds: 1_000_000_000)
        #expect(f.lessor.timeToLive(1)?.ttlSeconds == 11)  // full TTL + the election timeout
        #expect(try f.keys(of: 1) == ["a"])
        _ = try f.revoke(1).get()
        #expect(try f.liveKeys() == [])
    }

    // MARK: lessor: keep-alive and expiry

    @Test func aKeepAliveOfAnExpiredLeaseIsAnsweredWhenItsRevokeIsPublished() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 3)
        #expect(f.lessor.renew(1, whenSettled: { _ in }) == .renewed(ttlSeconds: 3))
        f.clock.advance(seconds: 3)
        let settled = Mutex<[Lessor.RenewOutcome]>([])
        #expect(f.lessor.renew(1, whenSettled: { o in settled.withLock { $0.append(o) } }) == nil)
        #expect(f.lessor.takeExpired(limit: 10) == [1])
        #expect(settled.withLock { $0 } == [])
        _ = try f.revoke(1).get()
        #expect(settled.withLock { $0 } == [.notFound])
        #expect(f.lessor.renew(1, whenSettled: { _ in }) == .notFound)
    }

    @Test func theExpiryRoundProposesRevokesAtMostAtTheRevokeRate() throws {
        let f = try Fixture()
        let n = 1_200
        for id in 1...n { try f.grant(Int64(id), ttl: 10) }
        let proposed = Mutex<[Int64]>([])
        let expiry = LeaseExpiry(lessor: f.lessor, logger: Logger(label: "test")) { request, _ in
            proposed.withLock { $0.append(request.leaseRevoke!.id) }
        }
        #expect(expiry.nanosecondsUntilDue() == 10_000_000_000)
        f.clock.advance(seconds: 10)
        #expect(expiry.nanosecondsUntilDue()! <= 0)
        expiry.fire()
        #expect(proposed.withLock { $0.count } == LeaseTable.revokeLimitPerRound)
        // The round is spent: due again when the window ends, not before.
        #expect(expiry.nanosecondsUntilDue() == LeaseTable.revokeRoundNanoseconds)
        expiry.fire()
        #expect(proposed.withLock { $0.count } == LeaseTable.revokeLimitPerRound)
        f.clock.advance(seconds: 0.5)
        expiry.fire()
        f.clock.advance(seconds: 0.5)
        expiry.fire()
        #expect(Set(proposed.withLock { $0 }) == Set((1...n).map(Int64.init)))
    }

    @Test func aRenewedLeaseIsNotProposedForRevoke() throws {
        let f = try Fixture()
        try f.grant(1, ttl: 5)
        let proposed = Mutex<[Int64]>([])
        let expiry = LeaseExpiry(lessor: f.lessor, logger: Logger(label: "test")) { request, _ in
            proposed.withLock { $0.append(request.leaseRevoke!.id) }
        }
        f.clock.advance(seconds: 4.9)
        #expect(f.lessor.renew(1, whenSettled: { _ in }) == .renewed(ttlSeconds: 5))
        f.clock.advance(seconds: 0.1)
        expiry.fire()
        #expect(proposed.withLock { $0 } == [])
        #expect(expiry.nanosecondsUntilDue() == 4_900_000_000)
        f.clock.advance(seconds: 4.9)
        expiry.fire()
        #expect(proposed.withLock { $0 } == [1])
    }
}
