import EtcdProto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Transport

/// Sends a snapshot to a peer (etcd's `snapshotSender`): `POST /raft/snapshot` whose body is
/// the MsgSnap message in the message codec's framing followed by the backend file, streamed in
/// `chunkBytes` pieces with each written before the next is read (memory stays flat whatever
/// the file's size). 204 is success. Runs on an event loop; `send` may be called from any thread.
enum SnapshotSender {
    static let chunkBytes = 1 << 20

    static func send(_ message: Message, dbPath: String, to url: ListenURL, context: PeerContext) -> EventLoopFuture<Void> {
        let file: FileHandle
        do {
            file = try FileHandle(forReadingFrom: URL(fileURLWithPath: dbPath))
        } catch {
            return context.group.next().makeFailedFuture(error)
        }
        var prefix = ByteBufferAllocator().buffer(capacity: 1024)
        MessageCodec.encode(message, into: &prefix)
        let promise = context.group.next().makePromise(of: Void.self)
        let prefixBytes = prefix
        HTTP1Connector.connect(group: context.group, url: url, tls: context.clientTLS, connectTimeout: context.dialTimeout, logger: context.logger) {
            ExchangeHandler()
        }.whenComplete { result in
            switch result {
            case .failure(let error):
                try? file.close()
                promise.fail(error)
            case .success(let channel):
                var requestHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: PeerProtocol.snapshotPath)
                requestHead.headers.add(name: "Host", value: url.isUnix ? "localhost" : "\(url.host):\(url.port)")
                for (name, value) in context.requestHeaders(to: nil) { requestHead.headers.add(name: name, value: value) }
                requestHead.headers.add(name: "Content-Type", value: "application/octet-stream")
                requestHead.headers.add(name: "Transfer-Encoding", value: "chunked")
                let head = requestHead
                let response = channel.eventLoop.makePromise(of: PeerHTTPClient.Response.self)
                channel.pipeline.handler(type: ExchangeHandler.self).whenComplete { found in
                    guard case .success(let handler) = found else {
                        response.fail(PeerHTTPClient.ClientError.closedBeforeResponse)
                        return
                    }
                    handler.expect(response)
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(prefixBytes)), promise: nil)
                    writeFile(file, to: channel)
                }
                response.futureResult.whenComplete { result in
                    try? file.close()
                    channel.close(promise: nil)
                    switch result {
                    case .success(let r) where r.status == .noContent: promise.succeed(())
                    case .success(let r): promise.fail(SnapshotSendError.refused(Int(r.status.code), r.errorText))
                    case .failure(let error): promise.fail(error)
                    }
                }
            }
        }
        return promise.futureResult
    }

    /// Writes the rest of the body, one chunk at a time, then the end of the request.
    private static func writeFile(_ file: FileHandle, to channel: any Channel) {
        let data: Data
        do {
            data = try file.read(upToCount: chunkBytes) ?? Data()
        } catch {
            channel.close(promise: nil)
            return
        }
        if data.isEmpty {
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return
        }
        var buffer = channel.allocator.buffer(capacity: data.count)
        buffer.writeBytes(data)
        channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer))).whenComplete { result in
            if case .success = result { writeFile(file, to: channel) } else { channel.close(promise: nil) }
        }
    }

    enum SnapshotSendError: Error, CustomStringConvertible {
        case refused(Int, String)
        var description: String {
            switch self {
            case .refused(let code, let text): "peer answered \(code): \(text)"
            }
        }
    }
}
