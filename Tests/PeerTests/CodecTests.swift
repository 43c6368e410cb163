import EtcdProto
import NIOCore
import Testing
@testable import Peer

/// The stream codecs against etcd's byte layouts (`Docs/rafthttp-wire.md` §3.4–3.5; the
/// heartbeat frames were captured from etcd 3.5.16).
@Suite struct MessageCodecTests {
    @Test func theLinkHeartbeatFrameIsEtcds38Bytes() {
        var buffer = ByteBuffer()
        MessageCodec.encode(MessageCodec.linkHeartbeat, into: &buffer)
        let expected: [UInt8] = [
            0, 0, 0, 0, 0, 0, 0, 0x1e,
            0x08, 0x08, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00, 0x28, 0x00, 0x30, 0x00, 0x40, 0x00,
            0x4a, 0x0a, 0x12, 0x08, 0x0a, 0x02, 0x28, 0x00, 0x10, 0x00, 0x18, 0x00, 0x50, 0x00, 0x58, 0x00,
        ]
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test func etcdsPreVoteFrameDecodes() throws {
        // etcd 3.5.16's MsgPreVote from 25351fad42b3c84c to 4036b1db24775ea0, captured on the wire.
        let frame: [UInt8] = [
            0, 0, 0, 0, 0, 0, 0, 0x2e,
            0x08, 0x11, 0x10, 0xa0, 0xbd, 0xdd, 0xa3, 0xb2, 0xbb, 0xac, 0x9b, 0x40, 0x18, 0xcc, 0x90, 0xcf,
            0x95, 0xd4, 0xf5, 0xc7, 0x9a, 0x25, 0x20, 0x02, 0x28, 0x01, 0x30, 0x02, 0x40, 0x00,
            0x4a, 0x0a, 0x12, 0x08, 0x0a, 0x02, 0x28, 0x00, 0x10, 0x00, 0x18, 0x00, 0x50, 0x00, 0x58, 0x00,
        ]
        var buffer = ByteBuffer(bytes: frame)
        var decoder = MessageCodec.Decoder()
        let m = try #require(try decoder.next(&buffer))
        #expect(m.type == .preVote)
        #expect(m.from == 0x2535_1fad_42b3_c84c && m.to == 0x4036_b1db_2477_5ea0)
        #expect(m.term == 2 && m.logTerm == 1 && m.index == 2 && m.commit == 0)
        #expect(buffer.readableBytes == 0)
        // And our encoding of it is byte for byte the same.
        var again = ByteBuffer()
        MessageCodec.encode(m, into: &again)
        #expect(Array(again.readableBytesView) == frame)
    }

    @Test func framesAreDecodedWhateverTheChunkBoundaries() throws {
        var whole = ByteBuffer()
        let sent = (1...20).map { i in
            Message(type: .app, to: 2, from: 1, term: 3, logTerm: 3, index: UInt64(i),
                    entries: [Entry(term: 3, index: UInt64(i + 1), data: Array(repeating: UInt8(i), count: i * 37))], commit: UInt64(i))
        }
        for m in sent { MessageCodec.encode(m, into: &whole) }
        for chunk in [1, 3, 7, 64, 1000] {
            var decoder = MessageCodec.Decoder()
            var pending = ByteBuffer()
            var got: [Message] = []
            var rest = whole
            while rest.readableBytes > 0 {
                var piece = rest.readSlice(length: min(chunk, rest.readableBytes))!
                pending.writeBuffer(&piece)
                while let m = try decoder.next(&pending) { got.append(m) }
            }
            #expect(got == sent, "chunks of \(chunk)")
        }
    }

    @Test func aLengthPastTheLimitIsRefusedBeforeAnythingIsAllocated() {
        var buffer = ByteBuffer()
        buffer.writeInteger(MessageCodec.messageBytesMax + 1, endianness: .big)
        var decoder = MessageCodec.Decoder()
        #expect(throws: MessageCodec.Decoder.DecodeError.limitExceeded(MessageCodec.messageBytesMax + 1)) { try decoder.next(&buffer) }
    }

    @Test func garbageIsAnErrorNotATrap() {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff])
        var decoder = MessageCodec.Decoder()
        #expect(throws: (any Error).self) { try decoder.next(&buffer) }
    }
}

@Suite struct MsgAppV2CodecTests {
    func app(term: UInt64, logTerm: UInt64, index: UInt64, entries: [UInt64], commit: UInt64) -> Message {
        Message(type: .app, to: 2, from: 1, term: term, logTerm: logTerm, index: index,
                entries: entries.map { Entry(term: term, index: $0, data: [UInt8(truncatingIfNeeded: $0)]) }, commit: commit)
    }

    @Test func theHeartbeatIsOneZeroByte() {
        var encoder = MsgAppV2Codec.Encoder()
        var buffer = ByteBuffer()
        encoder.encode(MessageCodec.linkHeartbeat, into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0])
    }

    @Test func theFirstMsgAppIsWholeAndFollowingOnesAtTheSameTermAreEntriesOnly() throws {
        var encoder = MsgAppV2Codec.Encoder()
        var buffer = ByteBuffer()
        let first = app(term: 2, logTerm: 2, index: 4, entries: [5, 6], commit: 4)
        encoder.encode(first, into: &buffer)
        #expect(buffer.getInteger(at: 0, as: UInt8.self) == MsgAppV2Codec.typeApp)
        let start = buffer.writerIndex
        let second = app(term: 2, logTerm: 2, index: 6, entries: [7], commit: 6)
        encoder.encode(second, into: &buffer)
        // 0x01, count 1, size, entry, commit.
        #expect(buffer.getInteger(at: start, as: UInt8.self) == MsgAppV2Codec.typeAppEntries)
        #expect(buffer.getInteger(at: start + 1, endianness: .big, as: UInt64.self) == 1)
        let entryBytes = second.entries[0].serializedBytes()
        #expect(buffer.getInteger(at: start + 9, endianness: .big, as: UInt64.self) == UInt64(entryBytes.count))
        #expect(buffer.getInteger(at: start + 17 + entryBytes.count, endianness: .big, as: UInt64.self) == 6)
        #expect(buffer.writerIndex - start == 1 + 8 + 8 + entryBytes.count + 8)
        // A message that does not continue (another log term) goes whole again.
        let third = app(term: 3, logTerm: 2, index: 7, entries: [8], commit: 7)
        let before = buffer.writerIndex
        encoder.encode(third, into: &buffer)
        #expect(buffer.getInteger(at: before, as: UInt8.self) == MsgAppV2Codec.typeApp)

        var decoder = MsgAppV2Codec.Decoder(local: 2, remote: 1)
        var got: [Message] = []
        while let m = try decoder.next(&buffer) { got.append(m) }
        #expect(got.count == 3)
        #expect(got[0] == first && got[2] == third)
        // The entries-only record comes back as the MsgApp it stood for (etcd drops the rest).
        #expect(got[1].type == .app && got[1].from == 1 && got[1].to == 2)
        #expect(got[1].term == 2 && got[1].logTerm == 2 && got[1].index == 6 && got[1].commit == 6)
        #expect(got[1].entries == second.entries)
    }

    @Test func partialRecordsWaitForTheirBytes() throws {
        var encoder = MsgAppV2Codec.Encoder()
        var whole = ByteBuffer()
        let messages = [
            app(term: 2, logTerm: 2, index: 4, entries: [5, 6], commit: 4),
            app(term: 2, logTerm: 2, index: 6, entries: [7, 8, 9], commit: 8),
            MessageCodec.linkHeartbeat,
            app(term: 2, logTerm: 2, index: 9, entries: [], commit: 9),
        ]
        for m in messages { encoder.encode(m, into: &whole) }
        var decoder = MsgAppV2Codec.Decoder(local: 2, remote: 1)
        var pending = ByteBuffer()
        var count = 0
        for byte in whole.readableBytesView {
            pending.writeInteger(byte)
            while try decoder.next(&pending) != nil { count += 1 }
        }
        #expect(count == messages.count)
    }

    @Test func anUnknownRecordTypeOrAMalformedEntryIsAnError() {
        var decoder = MsgAppV2Codec.Decoder(local: 2, remote: 1)
        var unknown = ByteBuffer(bytes: [7])
        #expect(throws: MsgAppV2Codec.Decoder.DecodeError.unknownType(7)) { try decoder.next(&unknown) }
        var bad = ByteBuffer(bytes: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0])
        var decoder2 = MsgAppV2Codec.Decoder(local: 2, remote: 1)
        #expect(throws: (any Error).self) { try decoder2.next(&bad) }
        var huge = ByteBuffer(bytes: [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        var decoder3 = MsgAppV2Codec.Decoder(local: 2, remote: 1)
        #expect(throws: (any Error).self) { try decoder3.next(&huge) }
    }
}

@Suite struct PeerProtocolTests {
    @Test func idsAreLowercaseHexWithoutLeadingZeros() {
        #expect(PeerProtocol.idString(0x0628_170c_800d_bcee) == "628170c800dbcee")
        #expect(PeerProtocol.parseID("0628170C800DBCEE") == 0x0628_170c_800d_bcee)
        #expect(PeerProtocol.parseID("0x1") == nil)
        #expect(PeerProtocol.parseID("") == nil)
        #expect(PeerProtocol.parseID("12345678901234567") == nil)
    }

    @Test func compatibilityComparesMajorMinorAndTheExactClusterID() {
        func check(_ headers: [(String, String)]) -> PeerProtocol.Compatibility {
            PeerProtocol.checkCompatibility(.init(headers), clusterID: 0xb271_90a5_159a_0b47)
        }
        let ok = [("X-Etcd-Cluster-Id", "b27190a5159a0b47"), ("X-Server-Version", "3.5.16"), ("X-Min-Cluster-Version", "3.0.0")]
        #expect(check(ok) == .compatible)
        #expect(check([("X-Etcd-Cluster-Id", "b27190a5159a0b47"), ("X-Server-Version", "3.4.0"), ("X-Min-Cluster-Version", "3.5.9")]) == .compatible)
        #expect(check([("X-Etcd-Cluster-Id", "b27190a5159a0b47"), ("X-Server-Version", "3.5.0"), ("X-Min-Cluster-Version", "3.6.0")]) == .incompatibleVersion)
        #expect(check([("X-Etcd-Cluster-Id", "b27190a5159a0b47")]) == .incompatibleVersion)
        #expect(check([("X-Etcd-Cluster-Id", "B27190A5159A0B47"), ("X-Server-Version", "3.5.16")]) == .clusterIDMismatch)
        #expect(check([("X-Etcd-Cluster-Id", "b27190a5159a0b47"), ("X-Server-Version", "3.5")]) == .malformedVersion)
        #expect(check([("X-Etcd-Cluster-Id", "b27190a5159a0b47"), ("X-Server-Version", "v3.5.0")]) == .malformedVersion)
    }
}
