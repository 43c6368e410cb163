import RaftSimulation
import Testing

/// The seeded random simulation (see `RaftSimulation.Simulator`): 3–7 members under message
/// loss, duplication, reordering and delay, partitions, crashes with restart from persisted state,
/// membership changes, compactions and leadership transfers, with every safety property checked
/// after every step and a liveness check at the end. CI runs 2,000 seeds here; the stand-alone
/// runner (`raft-sim run`) runs as many as you like, with longer runs per seed.
@Suite("Simulation") struct SimulationTests {
    static let seedsPerBatch = 100
    static let batches = 20
    static let stepsPerSeed = 600

    @Test("Random simulation keeps every safety property", arguments: 0..<batches)
    func randomSimulation(batch: Int) {
        let first = UInt64(batch * Self.seedsPerBatch) + 1
        for seed in first..<(first + UInt64(Self.seedsPerBatch)) {
            if let failure = Simulator(seed: seed, steps: Self.stepsPerSeed).run() {
                let shrunk = Simulator.shrink(failure.trace, kind: failure.violation.kind, budget: 300)
                Issue.record("""
                    \(failure)
                    replay: swift run -c release raft-sim seed \(seed) --steps \(Self.stepsPerSeed) --trace
                    shrunk trace (\(shrunk.count) commands):
                    \(shrunk.map(\.description).joined(separator: "\n"))
                    """)
                return
            }
        }
    }

    /// Seeds on which the simulator once found a bug (all liveness holes with stale
    /// configurations and removed members), replayed at the step count that found them.
    @Test("Seeds that once failed pass", arguments: [100738, 108805, 259676, 349855] as [UInt64])
    func regressionSeeds(seed: UInt64) {
        let failure = Simulator(seed: seed, steps: 3000).run()
        #expect(failure == nil, "\(failure.map(String.init(describing:)) ?? "")")
    }

    @Test("The same seed replays exactly")
    func replayIsExact() {
        let a = Simulator(seed: 4242, steps: 400)
        let b = Simulator(seed: 4242, steps: 400)
        #expect(a.run() == nil)
        #expect(b.run() == nil)
        #expect(a.history == b.history)
        #expect(a.summary == b.summary)
    }

    @Test("A failing trace is detected, replays, and shrinks to fewer commands")
    func shrinkingFindsASmallerTrace() throws {
        // A disk fault the checker must notice: member 2's copy of a committed entry is changed,
        // and after a restart it applies it again.
        let trace = try [
            "add-nodes 3", "campaign 1", "stabilize", "propose 1 a", "stabilize", "propose 1 b", "stabilize",
            "tick-all 3", "stabilize", "read-index 1 r", "stabilize", "corrupt 2 3", "crash 2", "restart 2", "stabilize",
        ].map(Command.parse)
        let (violation, ran, _) = Simulator.replay(trace)
        #expect(violation?.kind == .stateMachineSafety)
        let shrunk = Simulator.shrink(Array(trace.prefix(ran)), kind: .stateMachineSafety)
        #expect(shrunk.count < ran)
        #expect(Simulator.replay(shrunk).0?.kind == .stateMachineSafety)
    }
}
