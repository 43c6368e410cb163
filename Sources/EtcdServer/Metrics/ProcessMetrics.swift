#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What Prometheus' Go client reports as `process_*` (its procfs collector), read from
/// `/proc/self` at each scrape. Nil fields could not be read.
struct ProcessMetrics {
    var cpuSeconds: Double?
    var residentBytes: Double?
    var virtualBytes: Double?
    var openFDs: Double?
    var maxFDs: Double?
    var startTimeSeconds: Double?

    static func read() -> ProcessMetrics {
        var m = ProcessMetrics()
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name (which may hold spaces): state is field 3.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> Double? { n - 3 < fields.count ? Double(fields[n - 3]) : nil }
            if let utime = field(14), let stime = field(15) { m.cpuSeconds = (utime + stime) / ticks }
            m.virtualBytes = field(23)
            if let rss = field(24) { m.residentBytes = rss * pageSize }
            if let start = field(22), let boot = bootTimeSeconds() { m.startTimeSeconds = boot + start / ticks }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { m.openFDs = Double(fds.count) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { m.maxFDs = Double(limit.rlim_cur) }
        return m
    }

    private static func bootTimeSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
