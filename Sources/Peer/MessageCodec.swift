import EtcdProto
import NIOCore

/// etcd's `message` stream codec (`rafthttp/msg_codec.go`), also the framing of the message that
/// heads a snapshot POST: each message is an 8-byte big-endian length, then that many bytes of
/// `raftpb.Message`.
enum MessageCodec {
    /// etcd's `readBytesLimit`.
    static let messageBytesMax: UInt64 = 512 << 20

    /// The link heartbeat (`{Type: MsgHeartbeat}`, From = To = 0): keeps an idle stream's reader
    /// from timing out; never given to raft.
    static let linkHeartbeat = Message(type: .heartbeat)

    static func isLinkHeartbeat(_ m: Message) -> Bool {
        m.typeRaw == MessageType.heartbeat.rawValue && m.from == 0 && m.to == 0
    }

    static func encode(_ message: Message, into buffer: inout ByteBuffer) {
        let bytes = message.serializedBytes()
        buffer.writeInteger(UInt64(bytes.count), endianness: .big)
        buffer.writeBytes(bytes)
    }

    /// Incremental decoder: feed bytes as they arrive, take whole messages out.
    struct Decoder {
        enum DecodeError: Error, Equatable {
            /// etcd's "rafthttp: error limit exceeded".
            case limitExceeded(UInt64)
            case malformed(String)
        }

        /// Decodes the next whole message from `buffer` (consuming it), nil when more bytes are needed.
        mutating func next(_ buffer: inout ByteBuffer) throws(DecodeError) -> Message? {
            guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt64.self) else { return nil }
            guard length <= MessageCodec.messageBytesMax else { throw .limitExceeded(length) }
            guard buffer.readableBytes >= 8 + Int(length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 8)
            let slice = buffer.readSlice(length: Int(length))!
            do {
                return try slice.withUnsafeReadableBytes { raw throws(ProtoDecodingError) in try Message(decoding: raw) }
            } catch {
                throw .malformed("\(error)")
            }
        }
    }
}

/// etcd's `msgappv2` stream codec (`rafthttp/msgappv2_codec.go`), used on
/// `/raft/stream/msgapp/<id>` for MsgApp only. Big-endian throughout; each record starts with a
/// type byte:
///
/// - `0x00`: link heartbeat (nothing follows);
/// - `0x01`: entries that continue the previous MsgApp at the same term: `u64 n`, n × (`u64 size`,
///   `raftpb.Entry`), `u64 commit`;
/// - `0x02`: a whole message: `u64 size`, `raftpb.Message`.
///
/// Encoder and decoder each track the term and index the last record left them at, starting
/// from 0 on every new connection (make a new codec per connection).
enum MsgAppV2Codec {
    static let typeLinkHeartbeat: UInt8 = 0
    static let typeAppEntries: UInt8 = 1
    static let typeApp: UInt8 = 2

    struct Encoder {
        private var term: UInt64 = 0
        private var index: UInt64 = 0

        init() {}

        mutating func encode(_ m: Message, into buffer: inout ByteBuffer) {
            if MessageCodec.isLinkHeartbeat(m) {
                buffer.writeInteger(MsgAppV2Codec.typeLinkHeartbeat)
                return
            }
            if index == m.index && term == m.logTerm && m.logTerm == m.term {
                buffer.writeInteger(MsgAppV2Codec.typeAppEntries)
                buffer.writeInteger(UInt64(m.entries.count), endianness: .big)
                for entry in m.entries {
                    let bytes = entry.serializedBytes()
                    buffer.writeInteger(UInt64(bytes.count), endianness: .big)
                    buffer.writeBytes(bytes)
                    index += 1
                }
                buffer.writeInteger(m.commit, endianness: .big)
                return
            }
            let bytes = m.serializedBytes()
            buffer.writeInteger(MsgAppV2Codec.typeApp)
            buffer.writeInteger(UInt64(bytes.count), endianness: .big)
            buffer.writeBytes(bytes)
            term = m.term
            index = m.entries.last?.index ?? m.index
        }
    }

    /// Decodes records for the connection from `remote` to `local` (an AppEntries record does not
    /// name them). A malformed record is an error that closes the stream; it never traps (Go's
    /// decoder panics there, taking the process down).
    struct Decoder {
        enum DecodeError: Error, Equatable {
            case unknownType(UInt8)
            case limitExceeded(UInt64)
            case malformed(String)
        }

        let local: UInt64
        let remote: UInt64
        private var term: UInt64 = 0
        private var index: UInt64 = 0

        init(local: UInt64, remote: UInt64) {
            self.local = local
            self.remote = remote
        }

        mutating func next(_ buffer: inout ByteBuffer) throws(DecodeError) -> Message? {
            guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            var at = buffer.readerIndex + 1
            switch type {
            case MsgAppV2Codec.typeLinkHeartbeat:
                buffer.moveReaderIndex(forwardBy: 1)
                return MessageCodec.linkHeartbeat
            case MsgAppV2Codec.typeAppEntries:
                guard let count = buffer.getInteger(at: at, endianness: .big, as: UInt64.self) else { return nil }
                at += 8
                // Each entry takes at least 8 bytes of length: a count past what can fit is bogus.
                guard count <= MessageCodec.messageBytesMax / 8 else { throw .limitExceeded(count) }
                var entries: [Entry] = []
                for _ in 0..<count {
                    guard let size = buffer.getInteger(at: at, endianness: .big, as: UInt64.self) else { return nil }
                    guard size <= MessageCodec.messageBytesMax else { throw .limitExceeded(size) }
                    at += 8
                    guard buffer.writerIndex - at >= Int(size) else { return nil }
                    let entry: Entry
                    do {
                        entry = try buffer.withUnsafeReadableBytes { raw throws(ProtoDecodingError) in
                            let start = at - buffer.readerIndex
                            return try Entry(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<(start + Int(size))]))
                        }
                    } catch {
                        throw .malformed("entry: \(error)")
                    }
                    entries.append(entry)
                    at += Int(size)
                }
                guard let commit = buffer.getInteger(at: at, endianness: .big, as: UInt64.self) else { return nil }
                at += 8
                buffer.moveReaderIndex(to: at)
                let m = Message(type: .app, to: local, from: remote, term: term, logTerm: term, index: index, entries: entries, commit: commit)
                index += UInt64(entries.count)
                return m
            case MsgAppV2Codec.typeApp:
                guard let size = buffer.getInteger(at: at, endianness: .big, as: UInt64.self) else { return nil }
                guard size <= MessageCodec.messageBytesMax else { throw .limitExceeded(size) }
                at += 8
                guard buffer.writerIndex - at >= Int(size) else { return nil }
                let m: Message
                do {
                    m = try buffer.withUnsafeReadableBytes { raw throws(ProtoDecodingError) in
                        let start = at - buffer.readerIndex
                        return try Message(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<(start + Int(size))]))
                    }
                } catch {
                    throw .malformed("message: \(error)")
                }
                buffer.moveReaderIndex(to: at + Int(size))
                term = m.term
                index = m.entries.last?.index ?? m.index
                return m
            default:
                throw .unknownType(type)
            }
        }
    }
}
