import EtcdProto
import Foundation
import Testing

/// Cross-checks the codec against Debian's `protoc`, an independent protobuf implementation, and
/// the `.proto` files in `Protos/`:
/// - our encodings of seeded random values of every type decode with protoc, with no field protoc
///   does not know (so our field numbers and wire types agree with the .proto files);
/// - protoc's re-encoding of its own text output decodes with our codec to the same values, and is
///   byte-for-byte our encoding (so our encoding is the canonical one etcd's Go code also writes);
/// - hand-written text-format messages, encoded by protoc, decode to the expected Swift values.
@Suite(.enabled(if: Protoc.path != nil, Protoc.missingComment))
struct ProtocCrossCheckTests {
    static let instancesPerType = 120

    /// A test-only message with one repeated field per message type, so that one protoc run
    /// checks every instance of every type. Written to a temporary directory on each run.
    static func batchProto(in dir: URL) throws -> String {
        var text = "syntax = \"proto3\";\npackage swetcdtest;\n"
        for file in Protoc.protoFiles() where !file.hasPrefix("raftpb/") {
            text += "import \"\(file)\";\n"
        }
        text += "message Batch {\n"
        for (index, type) in allMessageTypes.enumerated() {
            text += "  repeated \(type.protoMessageName) m\(index + 1) = \(index + 1);\n"
        }
        text += "}\n"
        try text.write(to: dir.appendingPathComponent("batch.proto"), atomically: true, encoding: .utf8)
        return "batch.proto"
    }

    /// Appends `count` seeded instances of `T` to the batch as field `field`.
    private static func appendInstances<T: Arbitrary>(_: T.Type, field: Int, count: Int, to w: inout ProtoWriter) -> [(seed: UInt64, value: any Arbitrary)] {
        (0..<count).map { i in
            let seed = instanceSeed(T.protoMessageName, i)
            let value = T.instance(seed: seed)
            w.writeMessage(field, value)
            return (seed, value)
        }
    }

    /// Decodes `body` as a `T` and compares it with `expected`.
    private static func matches<T: Arbitrary>(_: T.Type, _ body: ArraySlice<UInt8>, _ expected: any Arbitrary) -> Bool {
        (try? T(serializedBytes: body)) == (expected as? T)
    }

    private static func encoding<T: Arbitrary>(_ value: T) -> [UInt8] { value.serializedBytes() }

    @Test func protocDecodesOurEncodingsOfEveryTypeAndItsReEncodingDecodesBackToTheSameValues() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swetcd-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try Self.batchProto(in: dir)

        var w = ProtoWriter()
        var expected: [[(seed: UInt64, value: any Arbitrary)]] = []
        for (index, type) in allMessageTypes.enumerated() {
            expected.append(Self.appendInstances(type, field: index + 1, count: Self.instancesPerType, to: &w))
        }
        let ours = w.bytes

        // (a) protoc decodes our bytes, and knows every field in them.
        let decoded = try Protoc.decode("swetcdtest.Batch", file: file, bytes: ours, extraIncludes: [dir.path])
        try #require(decoded.status == 0, "protoc --decode failed: \(decoded.stderr)")
        let unknownFieldLines = decoded.stdoutText.split(separator: "\n").filter { line in
            let trimmed = line.drop(while: { $0 == " " })
            return trimmed.first?.isNumber == true
        }
        #expect(unknownFieldLines.isEmpty, "fields protoc does not know: \(unknownFieldLines.prefix(10))")
        if !unknownFieldLines.isEmpty { try Self.nameTypesWithUnknownFields(dir: dir, file: file) }

        // (b) protoc's encoding of its own text decodes with our codec to the values we encoded.
        let reencoded = try Protoc.encode("swetcdtest.Batch", file: file, text: decoded.stdoutText, extraIncludes: [dir.path])
        try #require(reencoded.status == 0, "protoc --encode failed: \(reencoded.stderr)")
        var next = Array(repeating: 0, count: allMessageTypes.count)
        var mismatches: [String] = []
        var byteMismatches: Set<String> = []
        for field in WireBytes.fields(reencoded.stdout) {
            let index = field.field - 1
            let type = allMessageTypes[index]
            // The body of the length-delimited field: skip the tag and the length prefix.
            let whole = reencoded.stdout[field.range]
            let tagSize = WireBytes.tag(field.field, .lengthDelimited).count
            let length = whole.count - tagSize
            var prefixSize = 1
            while ProtoWriter.varintSize(UInt64(length - prefixSize)) != prefixSize { prefixSize += 1 }
            let body = whole.dropFirst(tagSize + prefixSize)
            guard next[index] < expected[index].count else {
                mismatches.append("\(type.protoMessageName): more instances than sent")
                continue
            }
            let (seed, value) = expected[index][next[index]]
            next[index] += 1
            if !Self.matches(type, body, value) {
                mismatches.append("\(type.protoMessageName) seed \(seed)")
            }
            if Array(body) != Self.encoding(value) { byteMismatches.insert(type.protoMessageName) }
        }
        #expect(mismatches.isEmpty, "values changed through protoc: \(mismatches.prefix(20))")
        #expect(next == expected.map(\.count), "instances lost through protoc")
        // (c) and protoc's bytes are ours: our encoding is the canonical one.
        #expect(byteMismatches.isEmpty, "protoc encodes these types differently: \(byteMismatches.sorted())")
    }

    /// After a failed batch: one protoc run per type, to say which types protoc disagrees with.
    private static func nameTypesWithUnknownFields(dir: URL, file: String) throws {
        for (index, type) in allMessageTypes.enumerated() {
            var w = ProtoWriter()
            _ = appendInstances(type, field: index + 1, count: 20, to: &w)
            let output = try Protoc.decode("swetcdtest.Batch", file: file, bytes: w.bytes, extraIncludes: [dir.path])
            let unknown = output.stdoutText.split(separator: "\n").filter { $0.drop(while: { $0 == " " }).first?.isNumber == true }
            if output.status != 0 || !unknown.isEmpty {
                Issue.record("\(type.protoMessageName): protoc sees unknown fields \(unknown.prefix(3)) \(output.stderr)")
            }
        }
    }

    // MARK: hand-written text format

    struct TextCase: Sendable, CustomTestStringConvertible {
        let message: String
        let file: String
        let text: String
        let check: @Sendable ([UInt8]) throws -> Bool
        var testDescription: String { message }
    }

    static let textCases: [TextCase] = [
        TextCase(
            message: "etcdserverpb.RangeRequest", file: "etcdserverpb/rpc.proto",
            text: """
                key: "/registry/pods/" range_end: "/registry/pods0" limit: 500 revision: 1234
                sort_order: DESCEND sort_target: MOD serializable: true keys_only: true count_only: true
                min_mod_revision: 1 max_mod_revision: 2 min_create_revision: 3 max_create_revision: 4
                """,
            check: { bytes in
                var want = RangeRequest(
                    key: Array("/registry/pods/".utf8), rangeEnd: Array("/registry/pods0".utf8), limit: 500, revision: 1234,
                    sortOrder: .descend, sortTarget: .mod, serializable: true, keysOnly: true, countOnly: true)
                want.minModRevision = 1
                want.maxModRevision = 2
                want.minCreateRevision = 3
                want.maxCreateRevision = 4
                return try RangeRequest(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.TxnRequest", file: "etcdserverpb/rpc.proto",
            text: """
                compare { result: EQUAL target: MOD key: "/registry/a" mod_revision: 0 }
                success { request_put { key: "/registry/a" value: "v" lease: 7694 } }
                failure { request_range { key: "/registry/a" } }
                failure { request_txn { compare { target: VALUE key: "k" value: "\\000\\377" range_end: "z" } } }
                """,
            check: { bytes in
                let want = TxnRequest(
                    compare: [Compare(key: Array("/registry/a".utf8), target: .mod, result: .equal, .modRevision(0))],
                    success: [RequestOp(.requestPut(PutRequest(key: Array("/registry/a".utf8), value: [0x76], lease: 7694)))],
                    failure: [
                        RequestOp(.requestRange(RangeRequest(key: Array("/registry/a".utf8)))),
                        RequestOp(.requestTxn(TxnRequest(compare: [Compare(key: [0x6b], target: .value, result: .equal, .value([0, 255]), rangeEnd: [0x7a])], success: []))),
                    ])
                return try TxnRequest(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.WatchRequest", file: "etcdserverpb/rpc.proto",
            text: """
                create_request { key: "/registry/" range_end: "/registry0" start_revision: 101 progress_notify: true
                filters: NODELETE filters: NOPUT prev_kv: true watch_id: 5 fragment: true }
                """,
            check: { bytes in
                let want = WatchRequest(.createRequest(WatchCreateRequest(
                    key: Array("/registry/".utf8), rangeEnd: Array("/registry0".utf8), startRevision: 101, progressNotify: true,
                    filters: [.noDelete, .noPut], prevKV: true, watchID: 5, fragment: true)))
                return try WatchRequest(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.WatchResponse", file: "etcdserverpb/rpc.proto",
            text: """
                header { cluster_id: 14841639068965178418 member_id: 10276657743932975437 revision: 9 raft_term: 2 }
                watch_id: -1 compact_revision: 3 cancel_reason: "mvcc: required revision has been compacted"
                events { type: DELETE kv { key: "a" mod_revision: 9 } prev_kv { key: "a" create_revision: 2 mod_revision: 8 version: 3 value: "x" lease: -5 } }
                """,
            check: { bytes in
                let want = WatchResponse(
                    header: ResponseHeader(clusterID: 14_841_639_068_965_178_418, memberID: 10_276_657_743_932_975_437, revision: 9, raftTerm: 2),
                    watchID: -1, compactRevision: 3, cancelReason: "mvcc: required revision has been compacted",
                    events: [Event(type: .delete, kv: KeyValue(key: [0x61], modRevision: 9),
                                   prevKV: KeyValue(key: [0x61], createRevision: 2, modRevision: 8, version: 3, value: [0x78], lease: -5))])
                return try WatchResponse(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.StatusResponse", file: "etcdserverpb/rpc.proto",
            text: """
                header { revision: 1 } version: "3.5.13" dbSize: 20480 leader: 42 raftIndex: 10 raftTerm: 3
                raftAppliedIndex: 10 errors: "NOSPACE" dbSizeInUse: 16384 isLearner: true storageVersion: "3.6.0"
                dbSizeQuota: 2147483648 downgradeInfo { enabled: true targetVersion: "3.5" }
                """,
            check: { bytes in
                var want = StatusResponse()
                want.header = ResponseHeader(clusterID: 0, memberID: 0, revision: 1, raftTerm: 0)
                want.version = "3.5.13"
                want.dbSize = 20480
                want.leader = 42
                want.raftIndex = 10
                want.raftTerm = 3
                want.raftAppliedIndex = 10
                want.errors = ["NOSPACE"]
                want.dbSizeInUse = 16384
                want.isLearner = true
                want.storageVersion = "3.6.0"
                want.dbSizeQuota = 2_147_483_648
                want.downgradeInfo = DowngradeInfo(enabled: true, targetVersion: "3.5")
                return try StatusResponse(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.HashKVResponse", file: "etcdserverpb/rpc.proto",
            text: "hash: 4294967295 compact_revision: 5 hash_revision: 77",
            check: { bytes in
                try HashKVResponse(serializedBytes: bytes) == HashKVResponse(header: nil, hash: .max, compactRevision: 5, hashRevision: 77)
            }),
        TextCase(
            message: "etcdserverpb.MemberListResponse", file: "etcdserverpb/rpc.proto",
            text: """
                members { ID: 1 name: "infra1" peerURLs: "http://a:2380" peerURLs: "http://b:2380" clientURLs: "http://a:2379" isLearner: true }
                members { ID: 18446744073709551615 }
                """,
            check: { bytes in
                let want = MemberListResponse(header: nil, members: [
                    Member(id: 1, name: "infra1", peerURLs: ["http://a:2380", "http://b:2380"], clientURLs: ["http://a:2379"], isLearner: true),
                    Member(id: .max),
                ])
                return try MemberListResponse(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.MemberListRequest", file: "etcdserverpb/rpc.proto", text: "linearizable: true",
            check: { try MemberListRequest(serializedBytes: $0) == MemberListRequest(linearizable: true) }),
        TextCase(
            message: "etcdserverpb.LeaseTimeToLiveResponse", file: "etcdserverpb/rpc.proto",
            text: "ID: 7 TTL: -1 grantedTTL: 60 keys: \"a\" keys: \"\"",
            check: { bytes in
                try LeaseTimeToLiveResponse(serializedBytes: bytes)
                    == LeaseTimeToLiveResponse(header: nil, id: 7, ttl: -1, grantedTTL: 60, keys: [[0x61], []])
            }),
        TextCase(
            message: "etcdserverpb.AlarmRequest", file: "etcdserverpb/rpc.proto", text: "action: DEACTIVATE memberID: 3 alarm: CORRUPT",
            check: { try AlarmRequest(serializedBytes: $0) == AlarmRequest(action: .deactivate, memberID: 3, alarm: .corrupt) }),
        TextCase(
            message: "etcdserverpb.DowngradeRequest", file: "etcdserverpb/rpc.proto", text: "action: CANCEL version: \"3.4\"",
            check: { try DowngradeRequest(serializedBytes: $0) == DowngradeRequest(action: .cancel, version: "3.4") }),
        TextCase(
            message: "etcdserverpb.AuthRoleGrantPermissionRequest", file: "etcdserverpb/rpc.proto",
            text: "name: \"reader\" perm { permType: READWRITE key: \"/a\" range_end: \"/b\" }",
            check: { bytes in
                try AuthRoleGrantPermissionRequest(serializedBytes: bytes)
                    == AuthRoleGrantPermissionRequest(name: "reader", perm: Permission(permType: .readWrite, key: [0x2f, 0x61], rangeEnd: [0x2f, 0x62]))
            }),
        TextCase(
            message: "etcdserverpb.AuthUserAddRequest", file: "etcdserverpb/rpc.proto",
            text: "name: \"root\" password: \"p\" options { no_password: true } hashedPassword: \"$2a$10$x\"",
            check: { bytes in
                try AuthUserAddRequest(serializedBytes: bytes)
                    == AuthUserAddRequest(name: "root", password: "p", options: UserAddOptions(noPassword: true), hashedPassword: "$2a$10$x")
            }),
        TextCase(
            message: "etcdserverpb.InternalRaftRequest", file: "etcdserverpb/raft_internal.proto",
            text: """
                header { ID: 99 username: "root" auth_revision: 4 } ID: 99
                v2 { ID: 5 Method: "PUT" Path: "/0/version" Val: "3.4.0" PrevExist: true }
                put { key: "k" value: "v" }
                authenticate { name: "root" simple_token: "tok.1" }
                auth_status { }
                cluster_version_set { ver: "3.5.0" }
                cluster_member_attr_set { member_ID: 8 member_attributes { name: "m" client_urls: "http://c:2379" } }
                downgrade_info_set { enabled: true ver: "3.4.0" }
                downgrade_version_test { ver: "3.6" }
                lease_checkpoint { checkpoints { ID: 1 remaining_TTL: 30 } }
                """,
            check: { bytes in
                var want = InternalRaftRequest(header: RequestHeader(id: 99, username: "root", authRevision: 4), id: 99)
                var v2 = V2Request(id: 5, method: "PUT", path: "/0/version", val: "3.4.0")
                v2.prevExist = true
                want.v2 = v2
                want.put = PutRequest(key: [0x6b], value: [0x76])
                want.authenticate = InternalAuthenticateRequest(name: "root", simpleToken: "tok.1")
                want.authStatus = AuthStatusRequest()
                want.clusterVersionSet = ClusterVersionSetRequest(ver: "3.5.0")
                want.clusterMemberAttrSet = ClusterMemberAttrSetRequest(memberID: 8, memberAttributes: Attributes(name: "m", clientURLs: ["http://c:2379"]))
                want.downgradeInfoSet = DowngradeInfoSetRequest(enabled: true, ver: "3.4.0")
                want.downgradeVersionTest = DowngradeVersionTestRequest(ver: "3.6")
                want.leaseCheckpoint = LeaseCheckpointRequest(checkpoints: [LeaseCheckpoint(id: 1, remainingTTL: 30)])
                return try InternalRaftRequest(serializedBytes: bytes) == want
            }),
        TextCase(
            message: "etcdserverpb.Metadata", file: "etcdserverpb/etcdserver.proto", text: "NodeID: 1 ClusterID: 2",
            check: { try WALMetadata(serializedBytes: $0) == WALMetadata(nodeID: 1, clusterID: 2) }),
        TextCase(
            message: "authpb.User", file: "authpb/auth.proto",
            text: "name: \"u\" password: \"h\" roles: \"r1\" roles: \"r2\" options { no_password: false }",
            check: { bytes in
                try User(serializedBytes: bytes) == User(name: [0x75], password: [0x68], roles: ["r1", "r2"], options: UserAddOptions(noPassword: false))
            }),
        TextCase(
            message: "leasepb.Lease", file: "leasepb/lease.proto", text: "ID: 1 TTL: 2 RemainingTTL: 3",
            check: { try Lease(serializedBytes: $0) == Lease(id: 1, ttl: 2, remainingTTL: 3) }),
        TextCase(
            message: "membershippb.Member", file: "membershippb/membership.proto",
            text: "ID: 12 raft_attributes { peer_urls: \"http://p:2380\" is_learner: true } member_attributes { name: \"n\" }",
            check: { bytes in
                try MembershipMember(serializedBytes: bytes)
                    == MembershipMember(id: 12, raftAttributes: RaftAttributes(peerURLs: ["http://p:2380"], isLearner: true), memberAttributes: Attributes(name: "n"))
            }),
        TextCase(
            message: "v3lockpb.LockResponse", file: "v3lockpb/v3lock.proto",
            text: "header { member_id: 1 } key: \"lock/694d7a\"",
            check: { bytes in
                try LockResponse(serializedBytes: bytes)
                    == LockResponse(header: ResponseHeader(clusterID: 0, memberID: 1, revision: 0, raftTerm: 0), key: Array("lock/694d7a".utf8))
            }),
        TextCase(
            message: "v3electionpb.ProclaimRequest", file: "v3electionpb/v3election.proto",
            text: "leader { name: \"e\" key: \"e/1\" rev: 5 lease: 6 } value: \"leader-2\"",
            check: { bytes in
                try ProclaimRequest(serializedBytes: bytes)
                    == ProclaimRequest(leader: LeaderKey(name: [0x65], key: Array("e/1".utf8), rev: 5, lease: 6), value: Array("leader-2".utf8))
            }),
        TextCase(
            message: "grpc.health.v1.HealthCheckResponse", file: "grpc/health/v1/health.proto", text: "status: SERVING",
            check: { try HealthCheckResponse(serializedBytes: $0) == HealthCheckResponse(status: .serving) }),
        TextCase(
            message: "grpc.health.v1.HealthListResponse", file: "grpc/health/v1/health.proto",
            text: "statuses { key: \"\" value { status: SERVING } } statuses { key: \"etcdserverpb.KV\" value { status: NOT_SERVING } }",
            check: { bytes in
                try HealthListResponse(serializedBytes: bytes)
                    == HealthListResponse(statuses: ["": HealthCheckResponse(status: .serving), "etcdserverpb.KV": HealthCheckResponse(status: .notServing)])
            }),
    ]

    @Test("a hand-written text-format message, encoded by protoc, decodes to the expected value", arguments: textCases)
    func handWrittenTextFormatDecodes(_ textCase: TextCase) throws {
        let output = try Protoc.encode(textCase.message, file: textCase.file, text: textCase.text)
        try #require(output.status == 0, "protoc --encode failed: \(output.stderr)")
        #expect(try textCase.check(output.stdout), "bytes: \(output.stdout)")
    }
}
