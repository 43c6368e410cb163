import EtcdProto
import Foundation
import Testing

/// The Swift side matches the `.proto` files: every message has a type, every rpc a `GRPCMethod`
/// with the same path, kind and types. (Reads the files; needs no protoc.)
@Suite struct ContractTests {
    struct ProtoFile {
        let package: String
        let messages: [String]
        /// (path, kind, request type, response type)
        let rpcs: [(String, GRPCMethodKind, String, String)]
    }

    static func parse(_ relativePath: String) throws -> ProtoFile {
        let text = try String(contentsOf: Protoc.protosDir.appendingPathComponent(relativePath), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var package = ""
        var service = ""
        var messages: [String] = []
        var rpcs: [(String, GRPCMethodKind, String, String)] = []
        func qualified(_ name: String, _ package: String) -> String { name.contains(".") ? name : "\(package).\(name)" }
        for line in lines where !line.hasPrefix("//") {
            let words = line.split(whereSeparator: { " ;{(){}".contains($0) }).map(String.init)
            guard let first = words.first else { continue }
            switch first {
            case "package": package = words[1]
            case "message": messages.append("\(package).\(words[1])")
            case "service": service = words[1]
            case "rpc":
                // rpc Name ( [stream] Req ) returns ( [stream] Resp )
                let name = words[1]
                var rest = Array(words.dropFirst(2))
                let clientStreams = rest.first == "stream"
                if clientStreams { rest.removeFirst() }
                let request = rest.removeFirst()
                #expect(rest.removeFirst() == "returns")
                let serverStreams = rest.first == "stream"
                if serverStreams { rest.removeFirst() }
                let response = rest.removeFirst()
                let kind: GRPCMethodKind =
                    switch (clientStreams, serverStreams) {
                    case (false, false): .unary
                    case (false, true): .serverStreaming
                    case (true, false): .clientStreaming
                    case (true, true): .bidirectional
                    }
                rpcs.append(("/\(package).\(service)/\(name)", kind, qualified(request, package), qualified(response, package)))
            default: break
            }
        }
        return ProtoFile(package: package, messages: messages, rpcs: rpcs)
    }

    @Test func catalogMatchesTheProtoFiles() throws {
        var declared: Set<String> = []
        for file in Protoc.protoFiles() where !file.hasPrefix("raftpb/") {
            declared.formUnion(try Self.parse(file).messages)
        }
        let swift = Set(allMessageTypes.map { $0.protoMessageName })
        #expect(declared.subtracting(swift).sorted() == [], "messages with no Swift type")
        #expect(swift.subtracting(declared).sorted() == [], "Swift types with no message")
        #expect(swift.count == allMessageTypes.count, "a message name is used twice")
    }

    @Test func everyRPCOfTheProtoFilesIsInTheMethodTableWithItsKindAndTypes() throws {
        var declared: [String: (GRPCMethodKind, String, String)] = [:]
        for file in Protoc.protoFiles() {
            for (path, kind, request, response) in try Self.parse(file).rpcs { declared[path] = (kind, request, response) }
        }
        #expect(declared.count == GRPCMethod.allCases.count)
        for method in GRPCMethod.allCases {
            guard let (kind, request, response) = declared[method.path] else {
                Issue.record("\(method.path) is not in Protos/")
                continue
            }
            #expect(method.kind == kind, "\(method.path)")
            #expect(method.requestTypeName == request, "\(method.path)")
            #expect(method.responseTypeName == response, "\(method.path)")
        }
    }

    @Test func methodsAreFoundByPathAndNothingElseIs() {
        for method in GRPCMethod.allCases {
            #expect(GRPCMethod.byPath(method.path) == method)
            #expect(method.path == "/\(method.service)/\(method.name)")
        }
        #expect(GRPCMethod.byPath("/etcdserverpb.KV/Range") == .kvRange)
        #expect(GRPCMethod.byPath("/etcdserverpb.KV/Nope") == nil)
        #expect(GRPCMethod.byPath("etcdserverpb.KV/Range") == nil)
        #expect(GRPCMethod.kvRangeStream.kind == .serverStreaming)
        #expect(GRPCMethod.watch.kind == .bidirectional)
        #expect(GRPCMethod.services.map(String.init) == [
            "etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Cluster",
            "etcdserverpb.Maintenance", "etcdserverpb.Auth", "v3lockpb.Lock", "v3electionpb.Election",
            "grpc.health.v1.Health",
        ])
    }

    @Test func everyMethodsTypesAreInTheCatalog() {
        let catalog = Set(allMessageTypes.map { $0.protoMessageName })
        for method in GRPCMethod.allCases {
            #expect(catalog.contains(method.requestTypeName), "\(method.path)")
            #expect(catalog.contains(method.responseTypeName), "\(method.path)")
        }
    }
}
