/// The start-up checks etcd makes on its clustering flags, with its wording where it has one.
public enum ConfigValidation {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func validate(_ config: ServerConfig) throws(Failure) {
        if config.name.isEmpty { throw Failure(description: "--name must not be empty") }
        let mine = config.initialCluster.filter { $0.name == config.name }.map(\.peerURL)
        if config.initialClusterStateNew {
            if mine.isEmpty {
                throw Failure(description: "couldn't find local name \"\(config.name)\" in the initial cluster configuration")
            }
            if Set(mine) != Set(config.initialAdvertisePeerURLs) {
                throw Failure(description: "--initial-cluster has \(config.name)=\(mine.joined(separator: ",")) but missing from --initial-advertise-peer-urls=\(config.initialAdvertisePeerURLs.joined(separator: ",")) (\"\(mine.sorted())\"(resolved from \(mine.sorted())) != \"\(config.initialAdvertisePeerURLs.sorted())\"(resolved from \(config.initialAdvertisePeerURLs.sorted())))")
            }
        }
        if config.maxRequestBytes <= 0 { throw Failure(description: "--max-request-bytes must be positive") }
        if config.maxTxnOps <= 0 { throw Failure(description: "--max-txn-ops must be positive") }
        if config.heartbeatIntervalMilliseconds <= 0 { throw Failure(description: "--heartbeat-interval must be > 0ms") }
        if config.electionTimeoutMilliseconds < 5 * config.heartbeatIntervalMilliseconds {
            throw Failure(description: "--election-timeout[\(config.electionTimeoutMilliseconds)ms] should be at least as 5 times as --heartbeat-interval[\(config.heartbeatIntervalMilliseconds)ms]")
        }
        for url in config.listenClientURLs + config.listenPeerURLs where url.isTLS {
            _ = url  // TLS settings are checked when listeners start.
        }
    }
}
