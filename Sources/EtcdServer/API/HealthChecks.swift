import EtcdProto
import Foundation
import MVCC
import Synchronization

/// What `/health`, `/livez` and `/readyz` check (etcd 3.5.11+'s `etcdhttp/health.go`), on the
/// member's real state:
/// - alarms: any raised alarm not excluded makes /health false ("ALARM NOSPACE");
/// - leader: a linearizable check needs one ("RAFT NO LEADER");
/// - reads: a serializable read is a read of the backend; a linearizable one also needs a
///   ReadIndex round and the apply path to be moving — while the backend refuses to apply
///   (`RaftNode.isStalled`) it fails as etcd's read would once its ReadIndex wait times out;
/// - data_corruption: a raised CORRUPT alarm.
/// Any thread; the answers come through completions (a linearizable read waits for raft).
struct HealthChecks {
    let server: EtcdServerCore

    struct Health {
        var healthy: Bool
        var reason: String
    }

    func health(excludedAlarms: Set<String>, serializable: Bool, _ done: @escaping @Sendable (Health) -> Void) {
        for alarm in server.alarms.get(.none) {
            let name = alarm.alarm.map { Self.alarmName($0) } ?? "NONE"
            if excludedAlarms.contains(name) { continue }
            switch alarm.alarm {
            case .noSpace?: return done(Health(healthy: false, reason: "ALARM NOSPACE"))
            case .corrupt?: return done(Health(healthy: false, reason: "ALARM CORRUPT"))
            default: return done(Health(healthy: false, reason: "ALARM UNKNOWN"))
            }
        }
        if !serializable && !server.hasLeader { return done(Health(healthy: false, reason: "RAFT NO LEADER")) }
        read(serializable: serializable) { error in
            if let error {
                done(Health(healthy: false, reason: "RANGE ERROR:\(error.status.message)"))
            } else {
                done(Health(healthy: true, reason: ""))
            }
        }
    }

    /// etcd's `Range{KeysOnly, Limit: 1}` as the check: nil when it succeeds.
    func read(serializable: Bool, _ done: @escaping @Sendable (EtcdError?) -> Void) {
        if !serializable {
            if !server.hasLeader { return done(.noLeader) }
            if server.raft.isStalled { return done(.timeout) }
        }
        let server = self.server
        server.whenReadable(serializable: serializable) { ready in
            if case .failure(let error) = ready { return done(error) }
            var request = RangeRequest(key: [0], rangeEnd: [0], limit: 1, serializable: serializable, keysOnly: true)
            request.keysOnly = true
            if case .failure(let error) = server.range(request) { return done(error) }
            done(nil)
        }
    }

    /// The named checks of /livez or /readyz, in name order (etcd runs them in map order, which
    /// Go randomizes); answers whether all passed and etcd's report lines.
    func run(_ names: [String], _ done: @escaping @Sendable (Bool, String) -> Void) {
        let sorted = names.sorted()
        let results = Mutex<[String: String?]>([:])
        let group = DispatchGroup()
        for name in sorted {
            group.enter()
            let finish: @Sendable (String?) -> Void = { failure in
                results.withLock { $0[name] = .some(failure) }
                group.leave()
            }
            switch name {
            case "serializable_read": read(serializable: true) { finish($0?.status.message) }
            case "linearizable_read": read(serializable: false) { finish($0?.status.message) }
            case "data_corruption": finish(server.alarms.get(.corrupt).isEmpty ? nil : "alarm activated: CORRUPT")
            default: finish("unknown check")
            }
        }
        group.notify(queue: .global()) {
            var ok = true
            var report = ""
            let failures = results.withLock { $0 }
            for name in sorted {
                if let failure = failures[name] ?? nil {
                    ok = false
                    report += "[-]\(name) failed: \(failure)\n"
                } else {
                    report += "[+]\(name) ok\n"
                }
            }
            done(ok, report)
        }
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
