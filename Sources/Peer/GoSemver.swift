/// coreos/go-semver's reading of a version as etcd uses it (the parser behind the peer version
/// handshake, `PeerProtocol.majorMinor`), for the server's other version checks (Downgrade).
public enum GoSemver {
    /// (major, minor), or nil where go-semver's `NewVersion` fails.
    public static func majorMinor(_ version: String) -> (major: Int64, minor: Int64)? {
        PeerProtocol.majorMinor(version).map { ($0.major, $0.minor) }
    }
}
