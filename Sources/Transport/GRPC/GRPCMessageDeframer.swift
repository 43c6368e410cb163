import NIOCore

/// Splits a gRPC request body into messages: each is a 5-byte prefix (1 byte compressed flag,
/// 4 bytes big-endian length) followed by the message bytes (gRPC over HTTP/2, "Length-Prefixed-Message").
///
/// The length prefix is checked against `messageBytesMax` before any body byte is buffered, so a
/// client announcing a 4 GiB message costs nothing. Bytes are appended as DATA frames arrive and
/// messages come out whole, in order. One deframer per stream; not thread-safe (event loop only).
public struct GRPCMessageDeframer {
    public enum Failure: Error, Equatable, Sendable {
        /// The announced length is above the limit (etcd: "request is too large"-like).
        case messageTooLarge(length: Int, limit: Int)
        /// The compressed flag is set; we negotiate no compression (`grpc-accept-encoding` absent).
        case compressedMessage
    }

    public static let prefixBytes = 5
    public let messageBytesMax: Int
    private var buffer: ByteBuffer

    public init(messageBytesMax: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.messageBytesMax = messageBytesMax
        self.buffer = allocator.buffer(capacity: 0)
    }

    /// Bytes received but not yet returned as a message.
    public var bufferedBytes: Int { buffer.readableBytes }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeBytes(bytes)
    }

    public mutating func append(_ bytes: ByteBuffer) {
        var copy = bytes
        buffer.writeBuffer(&copy)
    }

    /// The next complete message, or nil if more bytes are needed. Throws on a prefix that can
    /// never be satisfied; the stream must then be failed.
    public mutating func next() throws(Failure) -> [UInt8]? {
        guard buffer.readableBytes >= Self.prefixBytes else { return nil }
        let start = buffer.readerIndex
        let flag = buffer.getInteger(at: start, as: UInt8.self)!
        let length = Int(buffer.getInteger(at: start + 1, as: UInt32.self)!)
        if flag != 0 { throw .compressedMessage }
        if length > messageBytesMax { throw .messageTooLarge(length: length, limit: messageBytesMax) }
        guard buffer.readableBytes >= Self.prefixBytes + length else { return nil }
        buffer.moveReaderIndex(forwardBy: Self.prefixBytes)
        let message = buffer.readBytes(length: length)!
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 64 * 1024 {
            buffer.discardReadBytes()
        }
        return message
    }

    /// The length of the message being received, once its prefix is in (nil before that).
    var nextMessageBytes: Int? {
        guard buffer.readableBytes >= Self.prefixBytes else { return nil }
        return Int(buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)!)
    }

    /// Whether a partial message is pending (the client half-closed mid-message if so).
    public var hasPartialMessage: Bool { buffer.readableBytes > 0 }
}

/// Frames one message for the wire: prefix + bytes.
public enum GRPCMessageFramer {
    public static func frame(_ message: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.count))
        message.withUnsafeBytes { buffer.writeBytes($0) }
    }
}
