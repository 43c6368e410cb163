/// `--auto-compaction-mode` with `--auto-compaction-retention`, read as etcd reads them
/// (`parseCompactionRetention`): a bare integer is hours in periodic mode and revisions in
/// revision mode; otherwise the retention is a Go duration (periodic only in effect). 0 is off.
public struct AutoCompaction: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Keep the history of the last `retentionNanoseconds`.
        case periodic(retentionNanoseconds: Int64)
        /// Keep the last `revisions` revisions.
        case revision(revisions: Int64)
    }

    public var mode: Mode

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// nil when auto compaction is off (a retention of 0).
    public init?(mode: String, retention: String) throws(Invalid) {
        let nanoseconds: Int64
        if let n = Int64(retention), n >= 0 {
            switch mode {
            case "revision":
                if n == 0 { return nil }
                self.mode = .revision(revisions: n)
                return
            case "periodic":
                let (hours, overflow) = n.multipliedReportingOverflow(by: 3_600_000_000_000)
                guard !overflow else { throw Invalid(description: "error parsing CompactionRetention: \(retention) hours is too long") }
                nanoseconds = hours
            default:
                throw Invalid(description: "unknown auto-compaction-mode \"\(mode)\"")
            }
        } else {
            guard let ms = GoDurationNanoseconds.parse(retention) else {
                throw Invalid(description: "error parsing CompactionRetention: time: invalid duration \"\(retention)\"")
            }
            nanoseconds = ms
        }
        guard mode == "periodic" || mode == "revision" else { throw Invalid(description: "unknown auto-compaction-mode \"\(mode)\"") }
        if nanoseconds <= 0 { return nil }
        // etcd turns a duration in revision mode into that many revisions (a Duration is an
        // int64 of nanoseconds); nobody means that, but it is what etcd does.
        self.mode = mode == "revision" ? .revision(revisions: nanoseconds) : .periodic(retentionNanoseconds: nanoseconds)
    }
}

/// Go's `time.ParseDuration`, in nanoseconds ("1h30m", "10s", "1.5h", "100ms").
public enum GoDurationNanoseconds {
    public static func parse(_ text: String) -> Int64? {
        if text == "0" { return 0 }
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" || rest.first == "+" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            default: return nil
            }
            total += value * scale
        }
        guard total < 9.2e18 else { return nil }
        return Int64(negative ? -total : total)
    }
}
