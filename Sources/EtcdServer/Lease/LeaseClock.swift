import Dispatch

/// The time leases are measured in: a monotonic reading in nanoseconds (never the wall clock,
/// which may jump). Injected, so that tests of the lessor run on simulated time.
protocol LeaseClock: Sendable {
    var nowNanoseconds: Int64 { get }
}

/// `CLOCK_MONOTONIC` (what `DispatchTime` reads on Linux).
struct MonotonicLeaseClock: LeaseClock {
    var nowNanoseconds: Int64 { Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds) }
}
