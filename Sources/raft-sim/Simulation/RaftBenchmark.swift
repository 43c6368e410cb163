import EtcdProto
import Raft

/// Proposals committed per second by an in-process 3-member group: the leader proposes batches,
/// every member persists to `MemoryStorage`, messages are stepped directly into their target,
/// and a proposal counts when the leader applies it. Measures Raft's own cost (no I/O, no
/// encoding): the payload array is shared, so allocations are Raft's.
public enum RaftBenchmark {
    public struct Result: CustomStringConvertible {
        public var proposals: Int
        public var batch: Int
        public var payloadBytes: Int
        public var seconds: Double
        public var readyCycles: Int
        public var proposalsPerSecond: Double { Double(proposals) / seconds }
        public var description: String {
            let rate = Int(proposalsPerSecond)
            return "\(proposals) proposals (\(payloadBytes) B, batches of \(batch)) committed in \(Double(Int(seconds * 1000)) / 1000) s: \(rate) proposals/s, \(readyCycles) Ready cycles"
        }
    }

    public static func run(proposals: Int, batch: Int, payloadBytes: Int) -> Result {
        let ids: [MemberID] = [1, 2, 3]
        var cs = ConfState()
        cs.voters = ids.map(\.rawValue)
        var storages: [MemoryStorage] = []
        var nodes: [RawNode] = []
        for id in ids {
            let storage = MemoryStorage()
            var snap = Snapshot()
            snap.metadata = SnapshotMetadata(confState: cs, index: 1, term: 1)
            try! storage.applySnapshot(snap)
            var cfg = RaftConfig(id: id, storage: storage)
            cfg.maxInflightMessages = 256
            cfg.maxSizePerMessageBytes = 1024 * 1024
            storages.append(storage)
            nodes.append(try! RawNode(config: cfg))
        }

        var committed = 0
        var cycles = 0
        /// One round: every member processes its Ready; messages are stepped into their targets.
        func round() {
            for i in 0..<nodes.count where nodes[i].hasReady {
                cycles += 1
                let rd = nodes[i].ready()
                deliver(rd.messages)
                if let snap = rd.snapshot { try! storages[i].applySnapshot(snap) }
                storages[i].append(rd.entries)
                if let hs = rd.hardState { storages[i].setHardState(hs) }
                deliver(rd.messagesAfterPersist)
                if i == 0 {
                    for e in rd.committedEntries where !e.data.isEmpty { committed += 1 }
                }
                nodes[i].advance()
                // Keep memory bounded as a server would (its snapshots keep state elsewhere).
                let applied = nodes[i].appliedIndex
                if applied.rawValue > storages[i].firstIndex().rawValue + 200_000 {
                    try? storages[i].compact(upTo: applied - 100_000)
                }
            }
        }
        func deliver(_ messages: [Message]) {
            for m in messages {
                try? nodes[Int(m.to) - 1].step(m)
            }
        }

        nodes[0].campaign()
        while nodes[0].role != .leader { round() }
        while nodes.contains(where: { $0.hasReady }) { round() }

        let payload = [UInt8](repeating: 0x61, count: payloadBytes)
        let batchData = [[UInt8]](repeating: payload, count: batch)
        let clock = ContinuousClock()
        let start = clock.now
        var proposed = 0
        while committed < proposals {
            // Keep a few batches in flight, as a busy server does.
            if proposed - committed < batch * 4 && proposed < proposals {
                try! nodes[0].propose(batchData)
                proposed += batch
            }
            round()
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Result(proposals: committed, batch: batch, payloadBytes: payloadBytes, seconds: seconds, readyCycles: cycles)
    }
}
