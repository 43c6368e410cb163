import EtcdProto
import Foundation
import MVCC

/// What `/health`, `/livez` and `/readyz` check (etcd 3.5.11+'s `etcdhttp/health.go`), on the
/// member's real state:
/// - alarms: any raised alarm not excluded makes /health false ("ALARM NOSPACE");
/// - leader: a linearizable check needs one ("RAFT NO LEADER");
/// - reads: a serializable read is a read of the backend; a linearizable one also needs the
///   apply path to be moving — while the backend refuses to apply (`RaftLoop.isStalled`) it
///   fails as etcd's read would once its ReadIndex wait times out;
/// - data_corruption: a raised CORRUPT alarm.
/// Any thread.
struct HealthChecks {
    let server: EtcdServerCore

    struct Health {
        var healthy: Bool
        var reason: String
    }

    func health(excludedAlarms: Set<String>, serializable: Bool) -> Health {
        for alarm in server.alarms.get(.none) {
            let name = alarm.alarm.map { Self.alarmName($0) } ?? "NONE"
            if excludedAlarms.contains(name) { continue }
            switch alarm.alarm {
            case .noSpace?: return Health(healthy: false, reason: "ALARM NOSPACE")
            case .corrupt?: return Health(healthy: false, reason: "ALARM CORRUPT")
            default: return Health(healthy: false, reason: "ALARM UNKNOWN")
            }
        }
        if !serializable && !server.hasLeader { return Health(healthy: false, reason: "RAFT NO LEADER") }
        if let error = read(serializable: serializable) {
            return Health(healthy: false, reason: "RANGE ERROR:\(error.status.message)")
        }
        return Health(healthy: true, reason: "")
    }

    /// etcd's `Range{KeysOnly, Limit: 1}` as the check: nil when it succeeds.
    func read(serializable: Bool) -> EtcdError? {
        if !serializable {
            if !server.hasLeader { return .noLeader }
            if server.raft.isStalled { return .timeout }
        }
        var request = RangeRequest(key: [0], rangeEnd: [0], limit: 1, serializable: serializable, keysOnly: true)
        request.keysOnly = true
        if case .failure(let error) = server.range(request) { return error }
        return nil
    }

    /// The named checks of /livez or /readyz, in name order (etcd runs them in map order, which
    /// Go randomizes); returns whether all passed and etcd's report lines.
    func run(_ names: [String]) -> (Bool, String) {
        var ok = true
        var report = ""
        for name in names.sorted() {
            let failure: String?
            switch name {
            case "serializable_read": failure = read(serializable: true)?.status.message
            case "linearizable_read": failure = read(serializable: false)?.status.message
            case "data_corruption":
                failure = server.alarms.get(.corrupt).isEmpty ? nil : "alarm activated: CORRUPT"
            default: failure = "unknown check"
            }
            if let failure {
                ok = false
                report += "[-]\(name) failed: \(failure)\n"
            } else {
                report += "[+]\(name) ok\n"
            }
        }
        return (ok, report)
    }

    static func alarmName(_ type: AlarmType) -> String {
        switch type {
        case .none: "NONE"
        case .noSpace: "NOSPACE"
        case .corrupt: "CORRUPT"
        }
    }

    /// /livez and /readyz with their checks (etcd's `CheckRegistry`).
    enum Registry: String {
        case livez, readyz

        var checks: [String] {
            switch self {
            case .livez: ["serializable_read"]
            case .readyz: ["data_corruption", "linearizable_read", "serializable_read"]
            }
        }

        /// The registry a path names, and the one check it names (nil: all of them).
        static func route(_ path: String) -> (Registry, String?)? {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            guard let first = parts.first, let registry = Registry(rawValue: first) else { return nil }
            if parts.count == 1 && (path == "/\(first)" || path == "/\(first)/") { return path.hasSuffix("/") ? nil : (registry, nil) }
            if parts.count == 2 && registry.checks.contains(parts[1]) && path == "/\(first)/\(parts[1])" { return (registry, parts[1]) }
            return nil
        }
    }
}
