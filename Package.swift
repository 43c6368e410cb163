// swift-tools-version:6.1
import PackageDescription

/// swetcd: an etcd v3 server in Swift. Module map and dependency direction: `DESIGN.md` §1 of the
/// shared design; nothing imports upward (CLMDB → Storage → MVCC → EtcdServer → swetcd, EtcdProto
/// below Raft/Storage/MVCC, CNGHTTP2 + COpenSSL + NIO → Transport).
let package = Package(
    name: "swetcd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swetcd", targets: ["swetcd"]),
        .executable(name: "raft-sim", targets: ["raft-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CNGHTTP2", path: "Vendor-shims/CNGHTTP2", pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Vendor-shims/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CLMDB", path: "Vendor-shims/CLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]),

        .target(name: "EtcdProto"),
        .target(name: "Raft", dependencies: ["EtcdProto"]),
        // Raft's simulation harness (scenarios, random simulation, benchmark) and its runner.
        .target(name: "RaftSimulation", dependencies: ["Raft", "EtcdProto"], path: "Sources/raft-sim/Simulation"),
        .executableTarget(name: "raft-sim", dependencies: ["RaftSimulation", "Raft", "EtcdProto"], path: "Sources/raft-sim/Runner"),
        .target(name: "Storage", dependencies: ["EtcdProto", "CLMDB"]),
        .target(name: "MVCC", dependencies: ["EtcdProto", "Storage", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Transport",
            dependencies: [
                "CNGHTTP2", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // etcd's peer protocol (rafthttp, /members, /version, lease forwarding) over Transport;
        // knows raft messages and bytes, never MVCC or LMDB.
        .target(
            name: "Peer",
            dependencies: [
                "EtcdProto", "Transport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "EtcdServer",
            dependencies: [
                "EtcdProto", "Raft", "Storage", "MVCC", "Transport", "Peer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .executableTarget(
            name: "swetcd",
            dependencies: [
                "EtcdServer", "Storage", "Transport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        // libFuzzer target for the decoders; run with Tests/fuzz.sh (see the top of its main.swift).
        // A plain build makes it a replayer of saved inputs.
        .target(name: "CFuzzerShim", path: "Sources/CFuzzerShim"),
        .executableTarget(name: "FuzzEtcdProto", dependencies: ["EtcdProto", "CFuzzerShim"]),
        // libFuzzer target for the apply path (log entries applied to a fresh store); run with
        // Tests/fuzz-apply.sh.
        .executableTarget(name: "FuzzApply", dependencies: ["EtcdServer", "EtcdProto", "CFuzzerShim"]),
        // libFuzzer target for the gRPC/HTTP/2 input path; run with Tests/fuzz-transport.sh.
        .executableTarget(
            name: "FuzzTransport",
            dependencies: [
                "Transport", "CFuzzerShim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "EtcdProtoTests", dependencies: ["EtcdProto"]),
        .testTarget(
            name: "RaftTests", dependencies: ["Raft", "EtcdProto", "RaftSimulation"],
            exclude: ["Scenarios"]),  // read from the source tree by ScenarioTests (#filePath)
        .testTarget(name: "StorageTests", dependencies: ["Storage", "EtcdProto"]),
        .testTarget(name: "MVCCTests", dependencies: ["MVCC", "Storage", "EtcdProto"]),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "Transport", "CNGHTTP2", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "PeerTests",
            dependencies: [
                "Peer", "EtcdProto", "Transport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "EtcdServerTests", dependencies: ["EtcdServer", "EtcdProto", "MVCC", "Storage", "Transport", "Raft"],
            exclude: ["Fixtures"]),  // read from the source tree by GoSortTests (#filePath)
        .testTarget(name: "swetcdTests", dependencies: ["swetcd", "EtcdServer"]),
    ]
)
