import Testing
@testable import Transport

/// The receive budget on its own: no nghttp2, no channel.
@Suite struct ReceiveBudgetTests {
    static let window = 64 * 1024

    @Test func smallMessagesNeedNoAdmission() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        #expect(b.requestAdmission(1, messageBytes: Self.window) == .notNeeded)
        #expect(b.admittedBytes == 0)
    }

    @Test func largeMessagesAreAdmittedWithinHalfTheBudgetInArrivalOrder() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        let big = 300 * 1024
        #expect(b.requestAdmission(1, messageBytes: big) == .admitted(.init(streamID: 1, messageBytes: big, windowBytes: big + Self.window)))
        // 300 + 300 KiB > 512 KiB: the second waits, and so does a small-enough third behind it.
        #expect(b.requestAdmission(3, messageBytes: big) == .waiting)
        #expect(b.requestAdmission(5, messageBytes: 100 * 1024) == .waiting)
        #expect(b.isWaiting(3) && b.isWaiting(5))
        // Asking again changes nothing.
        #expect(b.requestAdmission(3, messageBytes: big) == .waiting)
        #expect(b.requestAdmission(1, messageBytes: big) == .waiting)
        // Stream 1's message arrived: 3 then 5 (300 + 100 ≤ 512 KiB) are admitted, in order.
        #expect(b.endAdmission(1).map(\.streamID) == [3, 5])
        #expect(b.admittedBytes == big + 100 * 1024)
        b.checkInvariants()
    }

    @Test func oneMessageIsAlwaysAdmittedEvenIfLargerThanTheAdmissionBudget() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        let huge = 900 * 1024
        guard case .admitted = b.requestAdmission(1, messageBytes: huge) else {
            Issue.record("a lone message must be admitted")
            return
        }
        #expect(b.requestAdmission(3, messageBytes: 70 * 1024) == .waiting)
        b.checkInvariants()
    }

    @Test func aWaitingStreamThatGoesAwayLeavesTheQueue() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        _ = b.requestAdmission(1, messageBytes: 400 * 1024)
        _ = b.requestAdmission(3, messageBytes: 400 * 1024)
        _ = b.requestAdmission(5, messageBytes: 400 * 1024)
        b.hold(3, 1000)
        #expect(b.streamClosed(3) == (released: 1000, admitted: []))
        #expect(!b.isWaiting(3))
        #expect(b.streamClosed(1).admitted.map(\.streamID) == [5])
        b.checkInvariants()
    }

    @Test func heldBytesAreCountedPerStreamAndReleasedExactly() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        b.hold(1, 10)
        b.hold(3, 20)
        b.hold(1, 5)
        #expect(b.bufferedBytes == 35 && b.heldBytes(1) == 15)
        b.release(1, 15)
        #expect(b.heldBytes(1) == 0 && b.bufferedBytes == 20)
        #expect(b.releaseAll(3) == 20)
        #expect(b.bufferedBytes == 0)
        b.checkInvariants()
    }

    @Test func theVictimIsTheNewestStreamNotAdmittedThenTheNewest() {
        var b = ReceiveBudget(bytesMax: 1 << 20, streamWindowBytes: Self.window)
        _ = b.requestAdmission(7, messageBytes: 200 * 1024)
        #expect(b.victim(among: [1, 3, 7]) == 3)
        #expect(b.victim(among: [7]) == 7)
        #expect(b.victim(among: []) == nil)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomOperationsKeepEveryInvariant(seed: UInt64) {
        var rng = SplitMix(state: seed)
        var b = ReceiveBudget(bytesMax: 4 << 20, streamWindowBytes: Self.window)
        var open: [Int32] = []
        var next: Int32 = 1
        for _ in 0..<5_000 {
            switch rng.next() % 6 {
            case 0:
                open.append(next)
                next += 2
            case 1 where !open.isEmpty:
                let id = open[Int(rng.next() % UInt64(open.count))]
                let room = b.bytesMax - b.bufferedBytes
                if room > 0 { b.hold(id, Int(rng.next() % UInt64(min(room, 100_000))) + 0) }
            case 2 where !open.isEmpty:
                let id = open[Int(rng.next() % UInt64(open.count))]
                let held = b.heldBytes(id)
                if held > 0 { b.release(id, Int(rng.next() % UInt64(held)) + 1) }
            case 3 where !open.isEmpty:
                let id = open[Int(rng.next() % UInt64(open.count))]
                _ = b.requestAdmission(id, messageBytes: Int(rng.next() % 3_000_000))
            case 4 where !open.isEmpty:
                let id = open[Int(rng.next() % UInt64(open.count))]
                _ = b.endAdmission(id)
            case 5 where !open.isEmpty:
                let i = Int(rng.next() % UInt64(open.count))
                _ = b.streamClosed(open.remove(at: i))
            default:
                break
            }
            b.checkInvariants()
        }
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
