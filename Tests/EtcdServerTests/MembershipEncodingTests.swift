import Foundation
import Testing
@testable import EtcdServer

/// The stored membership is the same bytes on every member: a dictionary's and a set's order
/// differ between processes, so the record is written in ID order (and still read back whole).
@Suite struct MembershipEncodingTests {
    @Test func membersAndRemovedIDsAreWrittenInIDOrderAndReadBack() throws {
        var m = Membership()
        for id: UInt64 in [900, 5, 77, 1 << 63, 12] {
            m.members[id] = MemberRecord(id: id, peerURLs: ["http://127.0.0.1:\(id % 60000)"], isLearner: id == 77, name: "m\(id)")
        }
        m.removed = [40, 3, 1000]
        m.clusterVersion = "3.5.0"
        let bytes = try MembershipStore.encode(m)
        let text = String(decoding: bytes, as: UTF8.self)
        let ids = m.members.keys.sorted().map { "\($0)," }
        var last = text.startIndex
        for id in ids {
            let at = try #require(text.range(of: id, range: last..<text.endIndex))
            last = at.upperBound
        }
        #expect(text.contains("\"removed\":[3,40,1000]"))
        #expect(try MembershipStore.decode(bytes) == m)
    }
}
