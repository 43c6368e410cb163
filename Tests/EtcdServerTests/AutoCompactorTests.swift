import Testing
@testable import EtcdServer

/// etcd's auto compactors on simulated time (`v3compactor/periodic.go`, `revision.go`).
@Suite struct AutoCompactorTests {
    static let second: Int64 = 1_000_000_000
    static let hour = 3_600 * second

    @Test func periodicCompactsToTheRevisionOfOnePeriodAgoFirstAfterOnePeriod() {
        var c = AutoCompactor(mode: .periodic(retentionNanoseconds: 10 * Self.second), startNanoseconds: 0)
        #expect(c.tickNanoseconds == Self.second)
        // Revision r at second r (sampled at each tick, from the start).
        var actions: [(Int64, AutoCompactor.Action)] = []
        for t in Int64(0)...25 {
            let action = c.tick(nowNanoseconds: t * Self.second, currentRevision: t + 1)
            if case .compact(let rev) = action {
                actions.append((t, action))
                c.finished(revision: rev, succeeded: true, nowNanoseconds: t * Self.second)
            }
        }
        // At 10 s the oldest of the last 11 samples is the revision at 0 s; then every 10 s.
        #expect(actions.map(\.0) == [10, 20])
        #expect(actions.map(\.1) == [.compact(revision: 1), .compact(revision: 11)])
    }

    @Test func aPeriodOverAnHourCompactsHourlyAfterTheFirstPeriodKeepingThePeriodOfHistory() {
        let minute = 60 * Self.second
        var c = AutoCompactor(mode: .periodic(retentionNanoseconds: 2 * Self.hour), startNanoseconds: 0)
        #expect(c.tickNanoseconds == 6 * minute)
        var at: [Int64] = []
        var revisions: [Int64] = []
        for step in Int64(0)...60 {  // 6 hours in 6-minute ticks
            let now = step * 6 * minute
            if case .compact(let rev) = c.tick(nowNanoseconds: now, currentRevision: step) {
                at.append(now / minute)
                revisions.append(rev)
                c.finished(revision: rev, succeeded: true, nowNanoseconds: now)
            }
        }
        #expect(at == [120, 180, 240, 300, 360])
        // Each time, the revision of two hours before (20 ticks).
        #expect(revisions == [0, 10, 20, 30, 40])
    }

    @Test func aFailedPeriodicCompactionIsTriedAgainAtTheNextTick() {
        var c = AutoCompactor(mode: .periodic(retentionNanoseconds: 10 * Self.second), startNanoseconds: 0)
        var attempts: [Int64] = []
        for t in Int64(0)...12 {
            if case .compact(let rev) = c.tick(nowNanoseconds: t * Self.second, currentRevision: 5) {
                attempts.append(t)
                c.finished(revision: rev, succeeded: t >= 11, nowNanoseconds: t * Self.second)
            }
        }
        #expect(attempts == [10, 11])
    }

    @Test func nothingIsProposedWhileACompactionIsInFlight() {
        var c = AutoCompactor(mode: .revision(revisions: 10), startNanoseconds: 0)
        #expect(c.tick(nowNanoseconds: 0, currentRevision: 100) == .compact(revision: 90))
        #expect(c.tick(nowNanoseconds: 1, currentRevision: 200) == .none)
        c.finished(revision: 90, succeeded: true, nowNanoseconds: 2)
        #expect(c.tick(nowNanoseconds: 3, currentRevision: 200) == .compact(revision: 190))
    }

    @Test func revisionModeSkipsNonPositiveAndRepeatedTargets() {
        var c = AutoCompactor(mode: .revision(revisions: 1000), startNanoseconds: 0)
        #expect(c.tickNanoseconds == 5 * 60 * Self.second)
        #expect(c.tick(nowNanoseconds: 0, currentRevision: 1000) == .none)
        #expect(c.tick(nowNanoseconds: 0, currentRevision: 1500) == .compact(revision: 500))
        c.finished(revision: 500, succeeded: true, nowNanoseconds: 0)
        #expect(c.tick(nowNanoseconds: 0, currentRevision: 1500) == .none)
        #expect(c.tick(nowNanoseconds: 0, currentRevision: Int64.min) == .none)
    }

    @Test func goFormatsForLogFields() {
        #expect(GoDurationText.format(3_600 * Self.second) == "1h0m0s")
        #expect(GoDurationText.format(90 * Self.second) == "1m30s")
        #expect(GoDurationText.format(1_500_000_000) == "1.5s")
        #expect(GoDurationText.format(1_736_578) == "1.736578ms")
        #expect(GoDurationText.format(26_310) == "26.31µs")
        #expect(HumanBytes.format(20480) == "20 kB")
        #expect(HumanBytes.format(1_048_576_000) == "1.0 GB")
        #expect(HumanBytes.format(9) == "9 B")
        #expect(HumanBytes.format(1_536_000) == "1.5 MB")
    }
}
