// libFuzzer target for EtcdProto's decoders.
//
// Build and run (Swift 6.3, Linux), from the package root; Tests/fuzz.sh does both:
//
//   swift build -c release --scratch-path .build-fuzz --product FuzzEtcdProto \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
//   .build-fuzz/release/FuzzEtcdProto -runs=200000 fuzz-corpus/
//
// `-use-ld=lld`: the default linker, gold, stops with an internal error (dwarf_reader.cc) on this
// link; the toolchain's lld links it. `--scratch-path` keeps the instrumented build apart from the
// ordinary release build, which would otherwise be rebuilt on every switch.
//
// Not `-parse-as-library` with libFuzzer's own `main`: SwiftPM renames an executable's entry
// point to `FuzzEtcdProto_main` and aliases `main` to it, so the link would fail. This file's
// top-level code is the entry point in every build and hands control to libFuzzer's driver
// (`LLVMFuzzerRunDriver`, through CFuzzerShim) when libFuzzer is linked in. A plain
// `swift build` links no libFuzzer: the program then replays the files named on its command line
// (crash reproducers, corpus entries) through the same check, without the sanitizers.
//
// Each input is decoded as every message type a server decodes from outside: every gRPC request,
// the raft log payload, the peer lease query and the records read back from storage. Whatever
// decodes must re-encode to bytes that decode to the same value and re-encode to the same bytes;
// anything else (or any trap) is a finding.

import CFuzzerShim
import EtcdProto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The message types decoded from untrusted bytes.
let fuzzedTypes: [any NamedProtoMessage.Type] = {
    var types: [any NamedProtoMessage.Type] = []
    var seen: Set<String> = []
    for method in GRPCMethod.allCases where seen.insert(method.requestTypeName).inserted {
        types.append(method.requestType)
    }
    let more: [any NamedProtoMessage.Type] = [
        InternalRaftRequest.self, V2Request.self, WALMetadata.self, LeaseInternalRequest.self, LeaseInternalResponse.self,
        KeyValue.self, Lease.self, User.self, Role.self, MembershipMember.self, WatchResponse.self, TxnResponse.self,
    ]
    for type in more where seen.insert(type.protoMessageName).inserted { types.append(type) }
    return types
}()

func check<T: NamedProtoMessage>(_: T.Type, _ input: UnsafeRawBufferPointer) {
    guard let value = try? T(decoding: input) else { return }
    let bytes = value.serializedBytes()
    let again: T
    do {
        again = try T(serializedBytes: bytes)
    } catch {
        fatalError("\(T.protoMessageName): our own encoding does not decode: \(error)")
    }
    precondition(again == value, "\(T.protoMessageName): value changed through encode/decode")
    precondition(again.serializedBytes() == bytes, "\(T.protoMessageName): encoding not stable")
}

func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    for type in fuzzedTypes { check(type, input) }
    return 0
}

/// Without libFuzzer: runs each file named on the command line through `fuzzOneInput`.
func replay(_ paths: ArraySlice<String>) -> CInt {
    if paths.isEmpty {
        print("FuzzEtcdProto was built without libFuzzer: give files to replay, or build with Tests/fuzz.sh")
        return 2
    }
    for path in paths {
        guard let file = fopen(path, "rb") else {
            print("cannot open \(path)")
            return 1
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        fclose(file)
        _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        print("\(path): ok (\(bytes.count) bytes)")
    }
    return 0
}

let status = swetcd_fuzzer_run(CommandLine.argc, CommandLine.unsafeArgv) { data, size in fuzzOneInput(data, size) }
exit(status == -1 ? replay(CommandLine.arguments.dropFirst()) : status)
