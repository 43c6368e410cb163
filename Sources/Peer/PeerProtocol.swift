import Foundation
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
    static let hashKVPath = "/members/hashkv"
    static let downgradeEnabledPath = "/downgrade/enabled"
    /// `POST /members/promote/<decimal ID>`: a member that does not lead forwards a learner's
    /// promotion to the leader (only the leader knows whether the learner caught up).
    static let memberPromotePrefix = "/members/promote/"

    /// Error texts the peer handlers answer with and their clients look for.
    enum ErrorText {
        static let idNotFound = "membership: ID not found"
        static let memberNotLearner = "membership: can only promote a learner member"
        static let learnerNotReady = "etcdserver: can only promote a learner member which is in sync with leader"
    }

    /// The etcd release this member speaks as, and the oldest cluster version it works with.
    static let serverVersion = "3.5.16"
    static let minClusterVersion = "3.0.0"

    /// `types.ID.String()`: lowercase hex without leading zeros.
    static func idString(_ id: UInt64) -> String { String(id, radix: 16) }

    /// `types.IDFromString` (Go's `strconv.ParseUint(s, 16, 64)`): hex digits only, either
    /// case, any number of leading zeros, the value within 64 bits; no sign, no `0x`.
    static func parseID(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }) else { return nil }
        let significant = text.drop { $0 == "0" }
        guard significant.count <= 16 else { return nil }
        return significant.isEmpty ? 0 : UInt64(significant, radix: 16)
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

    /// (major, minor) of a version as coreos/go-semver's `semver.Must(NewVersion(v))` reads it:
    /// build metadata split off at the first `+`, the pre-release at the first `-`, both made of
    /// dot-separated `[0-9A-Za-z-]+` identifiers; then exactly three dot-separated parts, each
    /// read by Go's `strconv.ParseInt` (an optional sign, decimal digits, leading zeros allowed).
    static func majorMinor(_ version: String) -> MajorMinor? {
        var rest = Substring(version)
        var metadata: Substring = ""
        if let plus = rest.firstIndex(of: "+") {
            metadata = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        var preRelease: Substring = ""
        if let dash = rest.firstIndex(of: "-") {
            preRelease = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, isIdentifier(preRelease), isIdentifier(metadata),
              let major = goParseInt(parts[0]), let minor = goParseInt(parts[1]), goParseInt(parts[2]) != nil
        else { return nil }
        return MajorMinor(major: major, minor: minor)
    }

    /// go-semver's `validateIdentifier`: empty, or `^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$`.
    private static func isIdentifier(_ text: Substring) -> Bool {
        if text.isEmpty { return true }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" }
        }
    }

    /// Go's `strconv.ParseInt(s, 10, 64)`.
    private static func goParseInt(_ text: Substring) -> Int64? {
        var digits = text
        var negative = false
        if let sign = digits.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let magnitude = digits.drop { $0 == "0" }
        guard let value = magnitude.isEmpty ? 0 : UInt64(magnitude), value <= UInt64(Int64.max) + (negative ? 1 : 0) else { return nil }
        return negative ? (value == UInt64(Int64.max) + 1 ? Int64.min : -Int64(value)) : Int64(value)
    }

    struct MajorMinor: Comparable {
        var major: Int64
        var minor: Int64
        static func < (a: MajorMinor, b: MajorMinor) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    }
}

extension PeerProtocol {
    /// The revision of a `GET /members/hashkv` body: Go's `json.Unmarshal` into a
    /// `HashKVRequest` (`{"revision":N}`, other fields ignored, a missing one is 0).
    static func hashKVRequestRevision(_ body: [UInt8]) throws -> Int64 {
        struct Request: Decodable { var revision: Int64? }
        return try JSONDecoder().decode(Request.self, from: Data(body)).revision ?? 0
    }

    /// A `/members/hashkv` answer (Go's JSON of `HashKVResponse`; absent fields are zero).
    static func parseHashKVResponse(_ body: [UInt8]) -> PeerHashKV? {
        struct Header: Decodable { var revision: Int64? }
        struct Response: Decodable {
            var header: Header?
            var hash: UInt32?
            var compact_revision: Int64?
        }
        guard let r = try? JSONDecoder().decode(Response.self, from: Data(body)) else { return nil }
        return PeerHashKV(hash: r.hash ?? 0, compactRevision: r.compact_revision ?? 0, revision: r.header?.revision ?? 0)
    }

    /// Go's `json.Marshal` of etcd's `HashKVResponse{Header: {Revision}, Hash, CompactRevision}`
    /// (gogo's `omitempty` tags: zero fields are left out).
    static func hashKVResponseJSON(_ hash: PeerHashKV) -> String {
        var header: [String] = []
        if hash.revision != 0 { header.append("\"revision\":\(hash.revision)") }
        var fields = ["\"header\":{\(header.joined(separator: ","))}"]
        if hash.hash != 0 { fields.append("\"hash\":\(hash.hash)") }
        if hash.compactRevision != 0 { fields.append("\"compact_revision\":\(hash.compactRevision)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
