import EtcdProto
import NIOCore
import NIOHTTP1
import Synchronization

/// The two long-lived streams a peer opens to us (`/raft/stream/message/<id>`,
/// `/raft/stream/msgapp/<id>`).
enum StreamType: String, Sendable {
    case message
    /// etcd's `msgappv2` (path `msgapp`).
    case msgApp = "msgapp"

    /// How etcd's logs name the stream ("stream Message", "stream MsgApp v2").
    var logName: String { self == .message ? "stream Message" : "stream MsgApp v2" }
}

/// Our end of one stream a remote member opened to receive our messages (etcd's
/// `streamWriter`): the response body of its GET, written for as long as the connection lives.
/// Raft messages are encoded in the stream's codec and written as chunks; every
/// `heartbeatInterval` a link heartbeat keeps the remote's 5-second read deadline from firing.
///
/// Bounded: at most `pendingMessagesMax` messages may wait to be written (etcd's
/// `streamBufSize`); past that `send` refuses and the caller reports the peer unreachable (raft
/// retries), rather than queue without end.
///
/// Threading: `send` and `close` from any thread; the codec state lives on the channel's event
/// loop (writes are encoded there, in the order `send` was called from one thread).
final class StreamWriter: @unchecked Sendable {
    static let pendingMessagesMax = 4096
    /// `ConnReadTimeout / 3`.
    static let heartbeatInterval = TimeAmount.milliseconds(1667)

    let type: StreamType
    let channel: any Channel
    /// Who reads this stream, and where its bytes are counted.
    private let remoteID: UInt64
    private let metrics: (any PeerMetrics)?
    private let pending = Mutex(0)
    // Event loop only:
    private var messageCodec = MsgAppV2Codec.Encoder()
    private var heartbeat: RepeatedTask?

    init(type: StreamType, channel: any Channel, remoteID: UInt64 = 0, metrics: (any PeerMetrics)? = nil) {
        self.type = type
        self.channel = channel
        self.remoteID = remoteID
        self.metrics = metrics
    }

    /// Starts the heartbeats. Call on the channel's event loop, after the response head was written.
    func start() {
        heartbeat = channel.eventLoop.scheduleRepeatedTask(initialDelay: Self.heartbeatInterval, delay: Self.heartbeatInterval) { [weak self] _ in
            self?.writeOnLoop([MessageCodec.linkHeartbeat], countsAsPending: false)
        }
        channel.closeFuture.whenComplete { [weak self] _ in self?.heartbeat?.cancel() }
    }

    var isOpen: Bool { channel.isActive }

    /// Queues `messages`; false when the stream is closed or too far behind (nothing queued).
    func send(_ messages: [Message]) -> Bool {
        guard channel.isActive else { return false }
        let accepted = pending.withLock { n -> Bool in
            guard n + messages.count <= Self.pendingMessagesMax else { return false }
            n += messages.count
            return true
        }
        guard accepted else { return false }
        if channel.eventLoop.inEventLoop {
            writeOnLoop(messages, countsAsPending: true)
        } else {
            channel.eventLoop.execute { self.writeOnLoop(messages, countsAsPending: true) }
        }
        return true
    }

    private func writeOnLoop(_ messages: [Message], countsAsPending: Bool) {
        var buffer = channel.allocator.buffer(capacity: 256)
        for m in messages {
            switch type {
            case .message: MessageCodec.encode(m, into: &buffer)
            case .msgApp: messageCodec.encode(m, into: &buffer)
            }
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let count = messages.count
        let bytes = buffer.readableBytes
        promise.futureResult.whenComplete { result in
            if countsAsPending { self.pending.withLock { $0 -= count } }
            switch result {
            case .success: self.metrics?.sent(to: self.remoteID, bytes: bytes)
            case .failure:
                if countsAsPending { self.metrics?.sendFailed(to: self.remoteID, messages: count) }
                self.channel.close(promise: nil)
            }
        }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: promise)
    }

    func close() {
        channel.close(promise: nil)
    }
}
