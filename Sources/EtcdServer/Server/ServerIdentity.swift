import EtcdProto
import Transport

/// The member and cluster IDs, derived as etcd derives them so a swetcd member bootstrapped with
/// the same flags as an etcd member gets the same IDs (`membership.NewMember`,
/// `RaftCluster.genID`): member ID = first 8 bytes (big-endian) of SHA-1 over the sorted peer URLs
/// joined, then the cluster token; cluster ID = first 8 bytes of SHA-1 over the sorted member
/// IDs, each as 8 big-endian bytes.
public struct ServerIdentity: Sendable, Equatable {
    public var memberID: UInt64
    public var clusterID: UInt64

    public init(memberID: UInt64, clusterID: UInt64) {
        self.memberID = memberID
        self.clusterID = clusterID
    }

    public static func memberID(peerURLs: [String], clusterToken: String) -> UInt64 {
        var bytes = Array(peerURLs.sorted().joined().utf8)
        bytes.append(contentsOf: Array(clusterToken.utf8))
        return firstUInt64(Digest.sha1(bytes))
    }

    /// The ID etcd gives a member added at run time (`membership.NewMember("", urls, "", &now)`):
    /// as `memberID` with an empty token, followed by the time in Unix seconds, in decimal.
    public static func addedMemberID(peerURLs: [String], unixSeconds: Int64) -> UInt64 {
        memberID(peerURLs: peerURLs, clusterToken: "\(unixSeconds)")
    }

    public static func clusterID(memberIDs: [UInt64]) -> UInt64 {
        var bytes: [UInt8] = []
        for id in memberIDs.sorted() {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
        }
        return firstUInt64(Digest.sha1(bytes))
    }

    private static func firstUInt64(_ digest: [UInt8]) -> UInt64 {
        digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
