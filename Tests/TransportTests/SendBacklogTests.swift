import Testing
@testable import Transport

/// The output back-pressure on its own.
@Suite struct SendBacklogTests {
    @Test func readsGoOnWhileWritableWhateverIsQueued() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100)
        b.queued(1_000)
        let decision = b.read(channelWritable: true)
        #expect(decision == .read && !b.readHeld)
    }

    @Test func whileUnwritableReadsGoOnUntilTheLimitThenWaitForWritability() {
        var b = SendBacklog(bytesMaxWhileUnwritable: 100)
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
        var b = SendBacklog(bytesMaxWhileUnwritable: 10)
        b.queued(50)
        _ = b.read(channelWritable: false)
        b.reset()
        #expect(b.queuedBytes == 0 && !b.readHeld)
    }
}
