import NIOHTTP1

/// The facts of etcd 3.5's peer protocol that both ends share (see `Docs/rafthttp-wire.md`):
/// header names, paths, versions, how IDs are written, the compatibility check.
enum PeerProtocol {
    enum Header {
        static let clusterID = "X-Etcd-Cluster-ID"
        static let serverFrom = "X-Server-From"
        static let serverVersion = "X-Server-Version"
        static let minClusterVersion = "X-Min-Cluster-Version"
        static let raftTo = "X-Raft-To"
        static let peerURLs = "X-PeerURLs"
    }

    static let raftPath = "/raft"
    static let streamMessagePrefix = "/raft/stream/message/"
    /// etcd's msgappv2 stream lives at `msgapp`, not `msgappv2`.
    static let streamMsgAppPrefix = "/raft/stream/msgapp/"
    static let snapshotPath = "/raft/snapshot"
    static let probingPath = "/raft/probing"
    static let membersPath = "/members"
    static let versionPath = "/version"
    static let leasesPath = "/leases"
    static let leasesInternalPath = "/leases/internal"

    /// The etcd release this member speaks as, and the oldest cluster version it works with.
    static let serverVersion = "3.5.16"
    static let minClusterVersion = "3.0.0"

    /// `types.ID.String()`: lowercase hex without leading zeros.
    static func idString(_ id: UInt64) -> String { String(id, radix: 16) }

    /// `types.IDFromString`: hex, either case, leading zeros allowed, no `0x`.
    static func parseID(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.count <= 16 else { return nil }
        return UInt64(text, radix: 16)
    }

    enum Compatibility: Equatable {
        case compatible
        /// 412 `incompatible version`.
        case incompatibleVersion
        /// 412 `cluster ID mismatch`.
        case clusterIDMismatch
        /// A version header that is not semver: Go panics in the handler and drops the
        /// connection; so do we (without the panic).
        case malformedVersion
    }

    /// `checkClusterCompatibilityFromHeader`: the remote's server version must be at least our
    /// minimum cluster version (3.0), its minimum cluster version at most our version (3.5),
    /// comparing major.minor only (an absent header counts as 2.0.0); then the cluster ID must be
    /// ours, written exactly as we write it.
    static func checkCompatibility(_ headers: HTTPHeaders, clusterID: UInt64) -> Compatibility {
        let remoteServer = headers.first(name: Header.serverVersion) ?? "2.0.0"
        let remoteMinCluster = headers.first(name: Header.minClusterVersion) ?? "2.0.0"
        guard let server = majorMinor(remoteServer), let minCluster = majorMinor(remoteMinCluster) else { return .malformedVersion }
        let local = majorMinor(serverVersion)!
        let localMin = majorMinor(minClusterVersion)!
        if server < localMin || minCluster > local { return .incompatibleVersion }
        if headers.first(name: Header.clusterID) != idString(clusterID) { return .clusterIDMismatch }
        return .compatible
    }

    /// (major, minor) of a `major.minor.patch[-pre][+build]` version, as semver.Must accepts it.
    static func majorMinor(_ version: String) -> MajorMinor? {
        let core = version.split(separator: "+", maxSplits: 1).first.map(String.init) ?? version
        let main = core.split(separator: "-", maxSplits: 1).first.map(String.init) ?? core
        let parts = main.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) && ($0 == "0" || !$0.hasPrefix("0")) }),
            let major = Int(parts[0]), let minor = Int(parts[1]), Int(parts[2]) != nil
        else { return nil }
        return MajorMinor(major: major, minor: minor)
    }

    struct MajorMinor: Comparable {
        var major: Int
        var minor: Int
        static func < (a: MajorMinor, b: MajorMinor) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    }
}
