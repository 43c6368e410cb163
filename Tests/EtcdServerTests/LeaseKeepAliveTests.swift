import EtcdProto
import Synchronization
import Testing
import Transport
@testable import EtcdServer

/// The keep-alive stream's observer with a recording stream, a lessor on a manual clock, and an
/// "event loop" that runs hopped work when the test says so.
@Suite struct LeaseKeepAliveTests {
    final class RecordingStream: GRPCServerStream {
        let sent = Mutex<[LeaseKeepAliveResponse]>([])
        let finished = Mutex<GRPCStatus?>(nil)
        let pending = Atomic<Int>(0)
        func send(_ message: [UInt8]) { sent.withLock { $0.append(try! LeaseKeepAliveResponse(serializedBytes: message)) } }
        func finish(_ status: GRPCStatus) { finished.withLock { $0 = $0 ?? status } }
        var pendingOutboundBytes: Int { pending.load(ordering: .relaxed) }
        var isCancelled: Bool { false }
        var answers: [[Int64]] { sent.withLock { $0.map { [$0.id, $0.ttl] } } }
        var status: GRPCStatus? { finished.withLock { $0 } }
    }

    /// Work queued for "the event loop", run when the test says.
    final class ManualLoop: Sendable {
        private let queued = Mutex<[@Sendable () -> Void]>([])
        func add(_ work: @escaping @Sendable () -> Void) { queued.withLock { $0.append(work) } }
        func run() {
            let work = queued.withLock { w in defer { w.removeAll() }; return w }
            for w in work { w() }
        }
    }

    final class Fixture {
        let clock = ManualLeaseClock()
        let lessor: Lessor
        let stream = RecordingStream()
        let loop = ManualLoop()
        var observer: LeaseKeepAliveObserver!

        init() {
            lessor = Lessor(minTTLSeconds: 1, clock: clock)
            lessor.promote(extendNanoseconds: 0)
            observer = LeaseKeepAliveObserver(
                stream: stream, lessor: lessor,
                header: { ResponseHeader(clusterID: 1, memberID: 2, revision: 7, raftTerm: 3) },
                onLoop: { [loop] work in loop.add(work) })
        }

        func grant(_ id: Int64, ttl: Int64) {
            var r = InternalRaftRequest()
            r.leaseGrant = LeaseGrantRequest(ttl: ttl, id: id)
            lessor.published([r], results: [.success(.leaseGrant(LeaseGrantResponse(header: nil, id: id, ttl: ttl)))])
        }

        func publishRevoke(_ id: Int64) {
            var r = InternalRaftRequest()
            r.leaseRevoke = LeaseRevokeRequest(id: id)
            lessor.published([r], results: [.success(.leaseRevoke(LeaseRevokeResponse()))])
        }

        func send(_ id: Int64) { observer.received(LeaseKeepAliveRequest(id: id).serializedBytes()) }

        /// Runs what was hopped onto the "event loop".
        func runLoop() { loop.run() }
    }

    @Test func eachRequestIsAnsweredInOrderWithTheGrantedTTLOrZeroForAnUnknownLease() {
        let f = Fixture()
        f.grant(1, ttl: 10)
        f.grant(2, ttl: 20)
        for id in [1, 2, 99, 1] as [Int64] { f.send(id) }
        #expect(f.stream.answers == [[1, 10], [2, 20], [99, 0], [1, 10]])
        #expect(f.stream.sent.withLock { $0[0].header?.revision } == 7)
        f.observer.receivedEnd()
        #expect(f.stream.status == .ok)
    }

    @Test func aRequestForAnExpiredLeaseWaitsForTheRevokeAndTheRequestsBehindItWaitTheirTurn() {
        let f = Fixture()
        f.grant(1, ttl: 2)
        f.grant(2, ttl: 20)
        f.clock.advance(seconds: 2)
        f.send(1)
        f.send(2)
        f.observer.receivedEnd()
        #expect(f.stream.answers == [])
        #expect(f.stream.status == nil)
        #expect(f.lessor.takeExpired(limit: 10) == [1])
        f.publishRevoke(1)
        #expect(f.stream.answers == [])  // the answer is made on the loop
        f.runLoop()
        #expect(f.stream.answers == [[1, 0], [2, 20]])
        #expect(f.stream.status == .ok)
    }

    @Test func aCancelledStreamIsNotAnsweredAfterTheRevoke() {
        let f = Fixture()
        f.grant(1, ttl: 2)
        f.clock.advance(seconds: 3)
        f.send(1)
        f.observer.cancelled()
        f.publishRevoke(1)
        f.runLoop()
        #expect(f.stream.answers == [])
        #expect(f.stream.status == nil)
    }

    @Test func anUndecodableRequestEndsTheStreamWithInternal() {
        let f = Fixture()
        f.observer.received([0x08])  // a varint field cut short
        #expect(f.stream.status?.code == .internal)
        f.send(1)
        #expect(f.stream.answers == [])
    }

    @Test func aClientThatDoesNotReadItsAnswersIsCutOff() {
        let f = Fixture()
        f.grant(1, ttl: 10)
        f.stream.pending.store(LeaseKeepAliveObserver.outboundBytesMax + 1, ordering: .relaxed)
        f.send(1)
        #expect(f.stream.status == EtcdError.tooManyRequests.status)
        #expect(f.stream.answers == [])
    }

    @Test func aMemberThatStopsLeadingEndsTheStreamsWaitingOnIt() {
        let f = Fixture()
        f.grant(1, ttl: 2)
        f.clock.advance(seconds: 2)
        f.send(1)
        f.lessor.demote()
        f.runLoop()
        #expect(f.stream.status == EtcdError.notLeader.status)
    }
}
