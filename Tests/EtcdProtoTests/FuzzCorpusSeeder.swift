import EtcdProto
import Foundation
import Testing

/// Writes seed inputs for the fuzzer (Sources/FuzzEtcdProto): encodings of seeded random values of
/// every message type, one file each. Runs only when `SWETCD_FUZZ_SEED_CORPUS` names a directory:
///
///   SWETCD_FUZZ_SEED_CORPUS=$PWD/fuzz-corpus swift test --filter FuzzCorpusSeeder
@Suite struct FuzzCorpusSeeder {
    static let directory = ProcessInfo.processInfo.environment["SWETCD_FUZZ_SEED_CORPUS"]

    @Test(.enabled(if: directory != nil, "set SWETCD_FUZZ_SEED_CORPUS to write a seed corpus"))
    func writeSeedCorpus() throws {
        let dir = URL(fileURLWithPath: Self.directory!)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for type in allMessageTypes {
            for (i, (_, bytes)) in type.encodedInstances(count: 8).enumerated() where !bytes.isEmpty && bytes.count <= 4096 {
                try Data(bytes).write(to: dir.appendingPathComponent("seed-\(type.protoMessageName)-\(i)"))
            }
        }
    }
}
