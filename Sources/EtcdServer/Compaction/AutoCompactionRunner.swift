import Dispatch
import Foundation
import EtcdProto
import Logging

/// Drives an `AutoCompactor` with a timer and proposes its compactions through the log, as etcd's
/// compactor calls `Compact` on its own server. Everything runs on `queue` (the compactor's
/// state is only touched there); completions arrive on the raft thread and hop back.
final class AutoCompactionRunner: @unchecked Sendable {
    private let queue = DispatchQueue(label: "swetcd-auto-compaction")
    private var compactor: AutoCompactor
    private let server: EtcdServerCore
    private let logger: Logger
    private var timer: DispatchSourceTimer?

    init(mode: AutoCompaction.Mode, server: EtcdServerCore, logger: Logger) {
        compactor = AutoCompactor(mode: mode, startNanoseconds: Self.now)
        self.server = server
        self.logger = logger
    }

    static var now: Int64 { Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds) }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.nanoseconds(Int(compactor.tickNanoseconds))
        // Periodic mode samples the revision at start (etcd appends before its first wait).
        timer.schedule(deadline: .now(), repeating: interval, leeway: .milliseconds(10))
        timer.setEventHandler { [weak self] in self?.tick() }
        self.timer = timer
        timer.resume()
        switch compactor.mode {
        case .periodic(let period):
            logger.info("auto compaction enabled", metadata: ["mode": "periodic", "compact-period": "\(GoDurationText.format(period))"])
        case .revision(let retained):
            logger.info("auto compaction enabled", metadata: ["mode": "revision", "revision-compaction-retention": "\(retained)"])
        }
    }

    func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    private func tick() {
        guard case .compact(let revision) = compactor.tick(nowNanoseconds: Self.now, currentRevision: server.currentRevision()) else { return }
        let kind: String
        let fields: Logger.Metadata
        switch compactor.mode {
        case .periodic(let period):
            kind = "periodic"
            fields = ["revision": "\(revision)", "compact-period": "\(GoDurationText.format(period))"]
        case .revision(let retained):
            kind = "revision"
            fields = ["revision": "\(revision)", "revision-compaction-retention": "\(retained)"]
        }
        logger.info("starting auto \(kind) compaction", metadata: fields)
        let started = Self.now
        var request = InternalRaftRequest()
        request.compaction = CompactionRequest(revision: revision)
        server.propose(request) { [weak self] result in
            guard let self else { return }
            self.queue.async {
                var done = fields
                done["took"] = "\(GoDurationText.format(Self.now - started))"
                switch result {
                case .success, .failure(.compacted):
                    self.compactor.finished(revision: revision, succeeded: true, nowNanoseconds: Self.now)
                    self.logger.info("completed auto \(kind) compaction", metadata: done)
                case .failure(let error):
                    self.compactor.finished(revision: revision, succeeded: false, nowNanoseconds: Self.now)
                    done["error"] = "\(error.status.message)"
                    self.logger.warning("failed auto \(kind) compaction", metadata: done)
                }
            }
        }
    }
}

/// Go's `time.Duration.String()` ("1h0m0s", "5m0s", "1.5s", "250ms"), as etcd's log fields show
/// durations.
enum GoDurationText {
    static func format(_ nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let sign = nanoseconds < 0 ? "-" : ""
        let n = nanoseconds.magnitude
        if n < 1_000 { return "\(sign)\(n)ns" }
        if n < 1_000_000 { return sign + trimmed(Double(n) / 1e3) + "µs" }
        if n < 1_000_000_000 { return sign + trimmed(Double(n) / 1e6) + "ms" }
        let totalSeconds = n / 1_000_000_000
        let fraction = n % 1_000_000_000
        let hours = totalSeconds / 3600, minutes = (totalSeconds % 3600) / 60, seconds = totalSeconds % 60
        var secondsText = "\(seconds)"
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            secondsText += "." + digits
        }
        if hours > 0 { return "\(sign)\(hours)h\(minutes)m\(secondsText)s" }
        if minutes > 0 { return "\(sign)\(minutes)m\(secondsText)s" }
        return "\(sign)\(secondsText)s"
    }

    private static func trimmed(_ value: Double) -> String {
        var text = String(format: "%.6f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
