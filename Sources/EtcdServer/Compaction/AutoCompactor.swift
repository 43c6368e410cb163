/// etcd's auto compactors (`etcdserver/api/v3compactor`) as one value driven by time: no
/// threads, no clock of its own. The driver calls `tick` every `tickNanoseconds` with the time
/// and the store's revision; a `.compact(revision)` action is proposed as a Compaction through
/// the log, and its outcome reported with `finished`.
///
/// - Periodic (retention P): the interval is P, capped at one hour; a revision sample is kept
///   every tenth of it, so that the oldest of the last (P / tick + 1) samples is the revision of
///   P ago. The first compaction comes P after start, then one every interval after a success.
/// - Revision (retention N): every five minutes, compacts to current − N unless that is ≤ 0 or
///   already done.
struct AutoCompactor {
    enum Action: Equatable {
        case none
        case compact(revision: Int64)
    }

    static let revisionModeTickNanoseconds: Int64 = 5 * 60 * 1_000_000_000
    static let periodCapNanoseconds: Int64 = 3_600 * 1_000_000_000
    /// etcd's `retryDivisor`.
    static let samplesPerInterval: Int64 = 10

    let mode: AutoCompaction.Mode
    /// How often `tick` is to be called.
    let tickNanoseconds: Int64
    private var samples: [Int64] = []
    private let samplesKept: Int
    private var lastSuccessNanoseconds: Int64
    /// Periodic: the wait before the next compaction (P first, then the capped interval).
    private var waitNanoseconds: Int64
    /// Revision: the last revision compacted to.
    private var lastCompacted: Int64 = 0
    private var inFlight = false

    init(mode: AutoCompaction.Mode, startNanoseconds: Int64) {
        self.mode = mode
        lastSuccessNanoseconds = startNanoseconds
        switch mode {
        case .periodic(let period):
            precondition(period > 0, "a periodic compactor with no period")
            let interval = min(period, Self.periodCapNanoseconds)
            tickNanoseconds = max(1, interval / Self.samplesPerInterval)
            samplesKept = Int(min(period / tickNanoseconds, 1 << 20)) + 1
            waitNanoseconds = period
        case .revision(let retained):
            precondition(retained > 0, "a revision compactor that keeps nothing")
            tickNanoseconds = Self.revisionModeTickNanoseconds
            samplesKept = 0
            waitNanoseconds = 0
        }
    }

    /// Periodic mode samples the revision on every tick (etcd samples before it waits: the
    /// driver's first tick comes at start).
    mutating func tick(nowNanoseconds now: Int64, currentRevision: Int64) -> Action {
        guard !inFlight else { return .none }
        switch mode {
        case .periodic(let period):
            samples.append(currentRevision)
            if samples.count > samplesKept { samples.removeFirst(samples.count - samplesKept) }
            guard now - lastSuccessNanoseconds >= waitNanoseconds, let oldest = samples.first else { return .none }
            if waitNanoseconds == period { waitNanoseconds = min(period, Self.periodCapNanoseconds) }
            inFlight = true
            return .compact(revision: oldest)
        case .revision(let retained):
            let (revision, overflow) = currentRevision.subtractingReportingOverflow(retained)
            guard !overflow, revision > 0, revision != lastCompacted else { return .none }
            inFlight = true
            return .compact(revision: revision)
        }
    }

    /// The proposed compaction ended: `succeeded` also when it was already compacted (etcd
    /// counts ErrCompacted as done).
    mutating func finished(revision: Int64, succeeded: Bool, nowNanoseconds now: Int64) {
        precondition(inFlight, "a compaction finished that was not started")
        inFlight = false
        guard succeeded else { return }
        lastSuccessNanoseconds = now
        lastCompacted = revision
    }
}
