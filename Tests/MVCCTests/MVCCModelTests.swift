import EtcdProto
import MVCC
import Testing

/// The store checked against a dumb in-memory model on seeded random operations: after every
/// step, ranges at random revisions (current and past, above the compaction point) must agree.
@Suite struct MVCCModelTests {
    /// The obvious implementation: every revision's full key → value map.
    struct Model {
        var history: [Int64: [[UInt8]: KeyValue]] = [1: [:]]
        var current: Int64 = 1
        var compacted: Int64 = 0

        mutating func apply(puts: [([UInt8], [UInt8])], deletes: [KeyRange]) {
            var state = history[current]!
            let rev = current + 1
            var changed = false
            for (k, v) in puts {
                var kv = KeyValue(key: k, createRevision: rev, modRevision: rev, version: 1, value: v)
                if let old = state[k] {
                    kv.createRevision = old.createRevision
                    kv.version = old.version + 1
                }
                state[k] = kv
                changed = true
            }
            for r in deletes {
                for k in state.keys.filter({ k in k.withUnsafeBytes { r.contains($0) } }) {
                    state[k] = nil
                    changed = true
                }
            }
            if changed {
                current = rev
                history[rev] = state
            }
        }

        func range(_ r: KeyRange, at rev: Int64) -> [KeyValue] {
            let state = history[(1...rev).last { history[$0] != nil }!]!
            return state.values.filter { kv in kv.key.withUnsafeBytes { r.contains($0) } }
                .sorted { a, b in a.key.lexicographicallyPrecedes(b.key) }
        }
    }

    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func storeAgreesWithTheModelOnRandomOperations(seed: UInt64) throws {
        let keys: [[UInt8]] = (0..<12).map { Array("k\($0 % 6)\($0)".utf8) } + [[0x61, 0x00], [0xff, 0xfe]]
        try check(seed: seed, keys: keys)
    }

    /// Keys around the length where the backend stores them digested (`BackendKey`): exactly at
    /// the inline limit, just over, far over, several long keys sharing their first 479 bytes
    /// (which the table orders by digest, and ranges must put back in key order), and short keys
    /// that sort between them.
    @Test(arguments: [11, 12, 13, 14, 15, 16] as [UInt64])
    func longKeysAgreeWithTheModel(seed: UInt64) throws {
        let limit = BackendKey.inlineBytesMax
        let p = [UInt8](repeating: 0x70, count: limit)  // "ppp…"
        let keys: [[UInt8]] = [
            Array(p.prefix(limit - 1)), p, p + [0x00], p + [0x61], p + [0x61, 0x61], p + [UInt8](repeating: 0x62, count: 600),
            p + [0x63] + [UInt8](repeating: 0x00, count: 3000), p + [0xff], Array(p.prefix(limit - 1)) + [0x71],
            Array(p.prefix(10)) + [0x71] + [UInt8](repeating: 0x71, count: 1000), [0x70], [0x71], Array("z".utf8),
        ]
        try check(seed: seed, keys: keys)
    }

    func check(seed: UInt64, keys: [[UInt8]]) throws {
        var rng = SplitMix64(state: seed)
        let t = try TestStore()
        var model = Model()
        func randomKey() -> [UInt8] { keys[Int(rng.next() % UInt64(keys.count))] }
        func randomRange() -> KeyRange {
            switch rng.next() % 3 {
            case 0: return .single(randomKey())
            case 1:
                let a = randomKey(), b = randomKey()
                return a.lexicographicallyPrecedes(b) ? .interval(start: a, end: b) : .interval(start: b, end: a)
            default: return .interval(start: randomKey(), end: nil)
            }
        }
        for step in 0..<300 {
            let roll = rng.next() % 10
            if roll < 6 {
                var puts: [([UInt8], [UInt8])] = []
                var seen = Set<[UInt8]>()
                for _ in 0..<(1 + rng.next() % 3) {
                    let k = randomKey()
                    if seen.insert(k).inserted { puts.append((k, Array("v\(step)".utf8))) }
                }
                try t.request { txn in for (k, v) in puts { try txn.put(key: k, value: v, lease: 0) } }
                model.apply(puts: puts, deletes: [])
            } else if roll < 9 {
                let r = randomRange()
                try t.request { txn in _ = try txn.deleteRange(r) }
                model.apply(puts: [], deletes: [r])
            } else if model.current > model.compacted + 1 {
                let to = model.compacted + 1 + Int64(rng.next() % UInt64(model.current - model.compacted))
                _ = try t.store.write { txn in try txn.compact(to: to) }
                model.compacted = to
            }
            #expect(t.store.meta.currentRevision == model.current, "seed \(seed) step \(step)")
            for _ in 0..<3 {
                let r = randomRange()
                let low = max(model.compacted, 1)
                let rev = low + Int64(rng.next() % UInt64(model.current - low + 1))
                let got = try t.store.read { try $0.range(r, options: RangeOptions(revision: rev)) }
                let want = model.range(r, at: rev)
                #expect(got.kvs == want, "seed \(seed) step \(step): range \(r) at \(rev)")
                #expect(got.count == want.count, "seed \(seed) step \(step)")
            }
        }
    }
}
