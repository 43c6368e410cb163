import EtcdServer
import Foundation
import Logging

/// `swetcd snapshot status|restore` and `swetcd migrate`: etcdutl's offline commands for
/// snapshots in etcd's format, and the in-place import of an etcd data dir. Flags as etcdutl's
/// (`--name=x` or `--name x`); logs as JSON lines on stderr, as etcdutl's.
enum Subcommands {
    static func run(_ arguments: [String]) -> Never {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .info, fileDescriptor: 2) }
        let logger = Logger(label: "swetcd")
        var args = arguments
        let command = args.removeFirst()
        do {
            var flags: [String: String] = [:]
            var positional: [String] = []
            let booleans: Set<String> = ["skip-hash-check", "mark-compacted"]
            var i = 0
            while i < args.count {
                let a = args[i]
                if a.hasPrefix("--") || (a.hasPrefix("-") && a.count > 1) {
                    let body = String(a.drop { $0 == "-" })
                    if let eq = body.firstIndex(of: "=") {
                        flags[String(body[..<eq])] = String(body[body.index(after: eq)...])
                    } else if booleans.contains(body) {
                        flags[body] = "true"
                    } else {
                        guard i + 1 < args.count else { throw SnapshotTool.Failure(description: "flag needs an argument: \(a)") }
                        flags[body] = args[i + 1]
                        i += 1
                    }
                } else {
                    positional.append(a)
                }
                i += 1
            }
            switch (command, positional.first) {
            case ("snapshot", "status"):
                guard positional.count == 2 else { throw SnapshotTool.Failure(description: "snapshot status requires exactly one argument") }
                let status = try SnapshotTool.status(path: positional[1])
                print(try SnapshotTool.format(status, as: flags["write-out"] ?? flags["w"] ?? "simple"), terminator: "")
            case ("snapshot", "restore"):
                guard positional.count == 2 else { throw SnapshotTool.Failure(description: "snapshot restore requires exactly one argument") }
                var c = SnapshotTool.RestoreConfig(snapshotPath: positional[1])
                if let v = flags["name"] { c.name = v }
                if let v = flags["data-dir"] { c.dataDir = v }
                if let v = flags["wal-dir"] { c.walDir = v }
                if let v = flags["initial-cluster-token"] { c.initialClusterToken = v }
                if let v = flags["initial-advertise-peer-urls"] { c.initialAdvertisePeerURLs = v.split(separator: ",").map(String.init) }
                if let v = flags["initial-cluster"] {
                    c.initialCluster = try v.split(separator: ",").map { part in
                        let kv = part.split(separator: "=", maxSplits: 1)
                        guard kv.count == 2 else { throw SnapshotTool.Failure(description: "invalid --initial-cluster \"\(v)\"") }
                        return (String(kv[0]), String(kv[1]))
                    }
                }
                c.skipHashCheck = flags["skip-hash-check"] == "true"
                c.markCompacted = flags["mark-compacted"] == "true"
                if let v = flags["bump-revision"] {
                    guard let n = Int64(v), n >= 0 else { throw SnapshotTool.Failure(description: "invalid --bump-revision \"\(v)\"") }
                    c.bumpRevision = n
                }
                if c.markCompacted && c.bumpRevision == 0 {
                    throw SnapshotTool.Failure(description: "--mark-compacted requires --bump-revision")
                }
                try SnapshotTool.restore(c, logger: logger)
            case ("migrate", _):
                guard let dataDir = flags["data-dir"] else { throw SnapshotTool.Failure(description: "migrate requires --data-dir") }
                try SnapshotTool.migrate(dataDir: dataDir, walDir: flags["wal-dir"], logger: logger)
            default:
                throw SnapshotTool.Failure(description: "usage: swetcd snapshot status FILE [-w simple|json|table] | swetcd snapshot restore FILE [--data-dir ...] | swetcd migrate --data-dir DIR [--wal-dir DIR]")
            }
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
}
