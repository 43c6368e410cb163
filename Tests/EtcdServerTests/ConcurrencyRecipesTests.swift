import EtcdProto
import MVCC
import Synchronization
import Testing
@testable import EtcdServer

/// The pieces of the v3lock/v3election recipes that do not need a server: key naming as Go
/// prints it, clientv3's prefix end, the taps the waits hang on, the one-shot they wait with.
@Suite struct ConcurrencyRecipesTests {
    typealias R = ConcurrencyRecipes

    @Test func sessionKeysPrintTheLeaseAsGoPrintsAnInt64InHex() {
        let p = R.prefix(Array("job".utf8))
        #expect(R.sessionKey(p, lease: 0x77) == Array("job/77".utf8))
        #expect(R.sessionKey(p, lease: 7587899423078875655) == Array("job/694da252a8020207".utf8))
        #expect(R.sessionKey(p, lease: -5) == Array("job/-5".utf8))
        #expect(R.sessionKey(p, lease: .min) == Array("job/-8000000000000000".utf8))
        #expect(R.sessionKey(R.prefix([]), lease: 0x77) == Array("/77".utf8))
    }

    @Test func prefixEndIsClientv3sGetPrefixRangeEnd() {
        #expect(R.prefixEnd(Array("a/".utf8)) == Array("a0".utf8))
        #expect(R.prefixEnd([0x61, 0xff]) == [0x62])
        #expect(R.prefixEnd([0xff, 0xff]) == [0])
    }

    @Test func ownerQueriesSortByCreateRevisionWithLimitOne() {
        let first = R.firstCreated(Array("e/".utf8))
        #expect(first.rangeEnd == Array("e0".utf8) && first.limit == 1)
        #expect(first.sortOrder == .ascend && first.sortTarget == .create && first.maxCreateRevision == 0)
        let last = R.lastCreated(Array("e/".utf8), maxCreateRevision: 41)
        #expect(last.sortOrder == .descend && last.sortTarget == .create && last.maxCreateRevision == 41)
    }

    @Test func errorsOfTheInnerClientKeepTheirTextAsUnknown() {
        let seen = R.asSeenThroughClient(.leaseNotFound).status
        #expect(seen.code == .unknown && seen.message == "etcdserver: requested lease not found")
        #expect(R.asSeenThroughClient(.canceled).status.code == .cancelled)
        #expect(R.noLeader.status.message == "election: no leader")
    }

    @Test func tapsHearOnlyTheirKeysAndOnlyAfterTheyWereAdded() {
        let taps = KeyTaps()
        let heard = Mutex<[[UInt8]]>([])
        taps.publish([Self.put("a/1", 2)])
        let id = taps.add(.interval(start: Array("a/".utf8), end: Array("a0".utf8))) { event in
            if case .changes(let changes) = event { heard.withLock { $0 += changes.map(\.kv.key) } }
        }
        taps.publish([Self.put("a/2", 3), Self.put("b", 3), Self.put("a/3", 3)])
        #expect(heard.withLock { $0 } == [Array("a/2".utf8), Array("a/3".utf8)])
        taps.remove(id)
        taps.publish([Self.put("a/4", 4)])
        #expect(heard.withLock { $0 }.count == 2)
        #expect(taps.count == 0)
    }

    @Test func aOneShotDeliversTheFirstOutcomeWhetherItCameBeforeOrAfterTheWait() async {
        let early = OneShot<Int>()
        early.fire(1)
        early.cancel()
        #expect(await early.value() == 1)
        let late = OneShot<Int>()
        async let waited = late.value()
        late.cancel()
        late.fire(2)
        #expect(await waited == nil)
    }

    static func put(_ key: String, _ revision: Int64) -> MVCCChange {
        MVCCChange(kv: KeyValue(key: Array(key.utf8), createRevision: revision, modRevision: revision, version: 1), isDelete: false)
    }
}
