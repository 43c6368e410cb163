import Foundation
import RaftSimulation
import Testing

/// Runs every scripted scenario in `Scenarios/` (format: `RaftSimulation.Scenario`). Each block's
/// output must match, and every safety property holds throughout. To regenerate the expected
/// outputs after an intended change, run with `RAFT_SCENARIO_REWRITE=1` and review the diff.
@Suite("Scenarios") struct ScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scenarios")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test("There are at least 25 scenarios")
    func enoughScenarios() {
        #expect(Self.files.count >= 25)
    }

    @Test("Scenario", arguments: files)
    func scenario(_ file: String) throws {
        let url = Self.directory.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        let scenario = try Scenario(parsing: text)
        let (mismatches, rewritten) = scenario.run()
        if ProcessInfo.processInfo.environment["RAFT_SCENARIO_REWRITE"] != nil {
            try rewritten.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        for m in mismatches {
            Issue.record("\(file) \(m)")
        }
        #expect(!rewritten.contains("VIOLATION"), "\(file) broke a safety property")
    }
}
