import Foundation
import Testing

/// Runs Debian's `protoc` (package protobuf-compiler), an implementation of protobuf independent of
/// ours, against the `.proto` files in `Protos/`.
enum Protoc {
    /// protoc's path, or nil when it is not installed (the cross-check tests are then skipped).
    static let path: String? = {
        if let explicit = ProcessInfo.processInfo.environment["PROTOC"] {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(dir)/protoc"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    static let missingComment: Comment = "protoc not found: install protobuf-compiler (or set PROTOC) to run the cross-check"

    /// The package's root directory (this file is Tests/EtcdProtoTests/Support/Protoc.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let protosDir: URL = packageRoot.appendingPathComponent("Protos")

    /// Every .proto file under Protos/, relative to it ("etcdserverpb/rpc.proto").
    static func protoFiles() -> [String] {
        let root = protosDir.path
        let walker = FileManager.default.enumerator(atPath: root)!
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            if item.hasSuffix(".proto") { out.append(item) }
        }
        return out.sorted()
    }

    struct Output {
        let status: Int32
        let stdout: [UInt8]
        let stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs protoc with `arguments`, `stdin` as its input. Input and output go through temporary
    /// files, so neither side can block on a full pipe.
    static func run(_ arguments: [String], stdin: [UInt8]) throws -> Output {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swetcd-protoc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("in")
        let outURL = dir.appendingPathComponent("out")
        let errURL = dir.appendingPathComponent("err")
        try Data(stdin).write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: path!)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: [UInt8](try Data(contentsOf: outURL)),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// `protoc --encode=<message>`: text format in, binary out.
    static func encode(_ message: String, file: String, text: String, extraIncludes: [String] = []) throws -> Output {
        try run(includes(extraIncludes) + ["--encode=\(message)", file], stdin: Array(text.utf8))
    }

    /// `protoc --decode=<message>`: binary in, text format out.
    static func decode(_ message: String, file: String, bytes: [UInt8], extraIncludes: [String] = []) throws -> Output {
        try run(includes(extraIncludes) + ["--decode=\(message)", file], stdin: bytes)
    }

    private static func includes(_ extra: [String]) -> [String] {
        (["-I", protosDir.path] + extra.flatMap { ["-I", $0] })
    }
}
