import Crypto
import Dispatch
import EtcdProto
import Foundation
import Transport

/// One `Maintenance.Snapshot` call, as etcd 3.5 answers it: the backend in etcd's bbolt layout
/// (`EtcdBackendExport`, one read transaction, written to a file beside the data), sent in
/// 32 KiB chunks each saying how many bytes remain, then one more chunk holding the SHA-256 of
/// everything before it (which `etcdutl snapshot restore` checks). No header, as in etcd.
///
/// Threading: the export runs on the maintenance queue (one at a time with defrag and hashes);
/// chunks are read and sent from a queue of the call's own, waiting while more than
/// `backlogBytesMax` are queued for the client. The file is removed when the call ends, however
/// it ends.
final class SnapshotCall: GRPCStreamObserver, @unchecked Sendable {
    /// etcd's `snapshotSendBufferSize`.
    static let chunkBytes = 32 * 1024
    static let backlogBytesMax = 4 << 20
    static let backlogPoll = DispatchTimeInterval.milliseconds(5)

    private let stream: any GRPCServerStream
    private let server: EtcdServerCore
    private let directory: String
    private var started = false

    init(stream: any GRPCServerStream, server: EtcdServerCore, directory: String) {
        self.stream = stream
        self.server = server
        self.directory = directory
    }

    func received(_ message: [UInt8]) {
        guard !started else { return }
        started = true
        do {
            _ = try SnapshotRequest(serializedBytes: message)
        } catch {
            return stream.finish(ServiceSupport.decodeFailure(error))
        }
        let path = directory + "/export-\(UUID().uuidString).db"
        let (stream, server) = (self.stream, self.server)
        server.exportBackend(to: path) { result in
            switch result {
            case .failure(let error):
                try? FileManager.default.removeItem(atPath: path)
                stream.finish(error.status)
            case .success:
                Self.send(path: path, stream: stream, server: server)
            }
        }
    }

    func receivedEnd() {}
    func cancelled() {}

    private static func send(path: String, stream: any GRPCServerStream, server: EtcdServerCore) {
        let queue = DispatchQueue(label: "swetcd-snapshot-send")
        queue.async {
            guard let file = FileHandle(forReadingAtPath: path),
                let total = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int
            else {
                try? FileManager.default.removeItem(atPath: path)
                return stream.finish(EtcdError.other("etcdserver: cannot read the backend copy").status)
            }
            server.logger.info("sending database snapshot to client", metadata: [
                "total-bytes": "\(total)", "size": "\(HumanBytes.format(UInt64(total)))",
            ])
            var state = SendState(file: file, path: path, total: total, started: ContinuousClock.now)
            sendChunks(&state, stream: stream, server: server, queue: queue)
        }
    }

    private struct SendState {
        let file: FileHandle
        let path: String
        let total: Int
        let started: ContinuousClock.Instant
        var sent = 0
        var hash = SHA256()

        func close() {
            try? file.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private static func sendChunks(_ state: inout SendState, stream: any GRPCServerStream, server: EtcdServerCore, queue: DispatchQueue) {
        while state.sent < state.total {
            if stream.isCancelled { return state.close() }
            if stream.pendingOutboundBytes > backlogBytesMax {
                let waiting = state
                queue.asyncAfter(deadline: .now() + backlogPoll) {
                    var resumed = waiting
                    sendChunks(&resumed, stream: stream, server: server, queue: queue)
                }
                return
            }
            let chunk: [UInt8]
            do {
                chunk = [UInt8](try state.file.read(upToCount: min(chunkBytes, state.total - state.sent)) ?? Data())
            } catch {
                state.close()
                return stream.finish(EtcdError.other("etcdserver: cannot read the backend copy: \(error)").status)
            }
            guard !chunk.isEmpty else {
                state.close()
                return stream.finish(EtcdError.other("etcdserver: the backend copy ended early").status)
            }
            state.sent += chunk.count
            state.hash.update(data: chunk)
            stream.send(SnapshotResponse(header: nil, remainingBytes: UInt64(state.total - state.sent), blob: chunk).serializedBytes())
        }
        let sha = Array(state.hash.finalize())
        server.logger.info("sending database sha256 checksum to client", metadata: [
            "total-bytes": "\(state.total)", "checksum-size": "\(sha.count)",
        ])
        stream.send(SnapshotResponse(header: nil, remainingBytes: 0, blob: sha).serializedBytes())
        stream.finish(.ok)
        server.logger.info("successfully sent database snapshot to client", metadata: [
            "total-bytes": "\(state.total)", "size": "\(HumanBytes.format(UInt64(state.total)))",
            "took": "\(ContinuousClock.now - state.started)",
        ])
        state.close()
    }
}
