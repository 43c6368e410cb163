import Testing
@testable import Transport

/// The output back-pressure on its own.
@Suite struct SendBacklogTests {
    @Test func readsGoOnWhileWritableWhateverIsQueued() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100, responseBytesMax: 1000, boundedAnswerBytesMax: 4000)
        b.queued(1_000)
        let decision = b.read(channelWritable: true)
        #expect(decision == .read && !b.readHeld)
    }

    @Test func whileUnwritableReadsGoOnUntilTheLimitThenWaitForWritability() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100, responseBytesMax: 1000, boundedAnswerBytesMax: 4000)
        b.queued(99)
        let below = b.read(channelWritable: false)
        b.queued(1)
        let at = b.read(channelWritable: false)
        #expect(below == .read && at == .hold && b.readHeld)
        // Draining alone does not issue the read: writability does, exactly once.
        b.left(100)
        let first = b.becameWritable(), second = b.becameWritable()
        #expect(first && !second)
    }

    @Test func resetForgetsTheBacklogAndTheHeldRead() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 10, responseBytesMax: 1000, boundedAnswerBytesMax: 4000)
        b.queued(50)
        _ = b.read(channelWritable: false)
        b.reset()
        #expect(b.queuedBytes == 0 && !b.readHeld)
    }

    @Test func callsWaitWhileTooMuchIsQueuedAndGoInOrderOnceHalfHasDrained() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100, responseBytesMax: 1000, boundedAnswerBytesMax: 4000)
        let first = b.mayDispatch(1)
        b.queued(1200)  // its answer: over the limit
        let second = b.mayDispatch(3), third = b.mayDispatch(5)
        #expect(first && !second && !third && b.waitingCalls == [3, 5])
        b.left(600)
        #expect(b.callsToDispatch().isEmpty, "600 queued: more than half the limit")
        b.left(100)
        #expect(b.callsToDispatch() == [3, 5])
        // Handed back, they pass through mayDispatch again, in order.
        let again3 = b.mayDispatch(3)
        b.queued(900)
        let again5 = b.mayDispatch(5)
        #expect(again3 && !again5 && b.waitingCalls == [5])
    }

    @Test func boundedAnswersGoPastLargeOnesUntilTheirOwnLimit() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100, responseBytesMax: 1000, boundedAnswerBytesMax: 4000)
        b.queued(2500)  // large answers on their way
        let range = b.mayDispatch(1)
        let put = b.mayDispatch(3, answer: .bounded)
        #expect(!range && put, "a put does not wait behind the waiting range")
        b.queued(1600)  // 4100: over the bounded gate too
        let put2 = b.mayDispatch(5, answer: .bounded)
        let put3 = b.mayDispatch(7, answer: .bounded)
        #expect(!put2 && !put3 && b.waitingCalls == [1, 5, 7])
        b.left(2000)  // 2100: half the bounded gate's limit is 2000
        #expect(b.callsToDispatch().isEmpty)
        b.left(200)  // 1900: the bounded calls go, the range still waits
        #expect(b.callsToDispatch() == [5, 7] && b.waitingCalls == [1])
        b.left(1400)  // 500: at most half of 1000, everyone goes
        #expect(b.callsToDispatch() == [1] && b.waitingCalls.isEmpty)
    }
}
