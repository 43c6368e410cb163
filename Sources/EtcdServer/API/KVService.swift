import Dispatch
import EtcdProto
import Foundation
import MVCC
import NIOCore
import Synchronization
import Transport

/// `etcdserverpb.KV`: Range, RangeStream (`RangeStreamCall`) and read-only Txn are served from an LMDB snapshot (a linearizable
/// one once a ReadIndex round says this member is up to date): a single-key read on the calling
/// event loop, a read over a key range on `rangeReaders` (it may be megabytes to read and
/// encode, and the event loop also carries the connection's other streams, watches above all);
/// Put, DeleteRange, write Txn and Compact go through the log.
struct KVService {
    let server: EtcdServerCore

    typealias Done<R> = @Sendable (Result<R, EtcdError>) -> Void

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Range", RangeRequest.self, server: server) { (request, context, done: @escaping Done<RangeResponse>) in
            Self.whenReadable(server, serializable: request.serializable, on: Self.executor(for: request, context), done) {
                done(server.range(request))
            }
        }
        router.register("/etcdserverpb.KV/RangeStream", .streaming(kind: .serverStreaming) { context, stream in
            if let error = ServiceSupport.leaderCheck(context, server) {
                stream.finish(error.status)
                return ClosedStreamObserver()
            }
            return RangeStreamCall(stream: stream, server: server)
        })
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Put", PutRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping Done<PutResponse>) in
            if let error = Self.validate({ try RequestValidation.check(request) }) { return done(.failure(error)) }
            var raftRequest = InternalRaftRequest()
            raftRequest.put = request
            Self.propose(server, raftRequest, done) { applied in
                guard case .put(let response) = applied else { return nil }
                return response
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/DeleteRange", DeleteRangeRequest.self, server: server) { (request, _, done: @escaping Done<DeleteRangeResponse>) in
            if let error = Self.validate({ try RequestValidation.check(request) }) { return done(.failure(error)) }
            var raftRequest = InternalRaftRequest()
            raftRequest.deleteRange = request
            Self.propose(server, raftRequest, done) { applied in
                guard case .deleteRange(let response) = applied else { return nil }
                return response
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Txn", TxnRequest.self, server: server) { (request, context, done: @escaping Done<TxnResponse>) in
            if let error = Self.validate({ try RequestValidation.check(request, maxTxnOps: server.config.maxTxnOps) }) {
                return done(.failure(error))
            }
            if KVApplier.isReadOnly(request) {
                // etcd: a read-only txn is linearizable unless every range in it is serializable.
                return Self.whenReadable(server, serializable: KVApplier.isSerializable(request), on: Self.executor(for: request, context), done) {
                    done(server.readOnlyTxn(request))
                }
            }
            var raftRequest = InternalRaftRequest()
            raftRequest.txn = request
            Self.propose(server, raftRequest, done) { applied in
                guard case .txn(let response) = applied else { return nil }
                return response
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Compact", CompactionRequest.self, server: server, answer: .bounded) { (request, _, done: @escaping Done<CompactionResponse>) in
            var raftRequest = InternalRaftRequest()
            raftRequest.compaction = request
            Self.propose(server, raftRequest, done) { applied in
                guard case .compaction(let response) = applied else { return nil }
                return response
            }
        }
    }

    /// Where a read runs: the connection's event loop, or the range readers.
    enum Executor {
        case eventLoop(any EventLoop)
        case rangeReaders
    }

    /// Reads over key ranges (`range_end` set) and their encoding, off the event loops: a fixed
    /// set of serial queues taken in turn, so at most `rangeReaderCount` of them hold an LMDB
    /// read transaction at once (LMDB has a fixed number of reader slots; a concurrent queue
    /// would grow threads under a flood of large reads).
    static let rangeReaderCount = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    static let rangeReaderQueues = (0..<rangeReaderCount).map { DispatchQueue(label: "range-reader-\($0)", qos: .userInitiated) }
    static let nextRangeReader = Atomic<Int>(0)

    static func rangeReader() -> DispatchQueue {
        let n = nextRangeReader.add(1, ordering: .relaxed).oldValue
        return rangeReaderQueues[(n % rangeReaderCount + rangeReaderCount) % rangeReaderCount]
    }

    static func executor(for request: RangeRequest, _ context: GRPCCallContext) -> Executor {
        request.rangeEnd.isEmpty || request.countOnly ? .eventLoop(context.eventLoop) : .rangeReaders
    }

    /// A read-only txn holds ranges only (`KVApplier.isReadOnly`: no nested txns).
    static func executor(for request: TxnRequest, _ context: GRPCCallContext) -> Executor {
        let readsARange = (request.success + request.failure).contains { op in
            if case .requestRange(let r)? = op.request { return !r.rangeEnd.isEmpty && !r.countOnly }
            return false
        }
        return readsARange ? .rangeReaders : .eventLoop(context.eventLoop)
    }

    /// Runs `read` where `executor` says once the server may serve the read (see
    /// `EtcdServerCore.whenReadable`), or answers with why it may not.
    private static func whenReadable<R>(
        _ server: EtcdServerCore, serializable: Bool, on executor: Executor, _ done: @escaping Done<R>,
        _ read: @escaping @Sendable () -> Void
    ) {
        server.whenReadable(serializable: serializable) { ready in
            switch (ready, executor) {
            case (.failure(let error), _): done(.failure(error))
            case (.success, .eventLoop(let eventLoop)) where eventLoop.inEventLoop: read()
            case (.success, .eventLoop(let eventLoop)): eventLoop.execute(read)
            case (.success, .rangeReaders): rangeReader().async(execute: read)
            }
        }
    }

    /// etcd's request checks, as a typed error or nil.
    private static func validate(_ check: () throws -> Void) -> EtcdError? {
        do {
            try check()
            return nil
        } catch let error as EtcdError {
            return error
        } catch {
            return .other("\(error)")
        }
    }

    /// Sends a write down the log and answers with the applied response, its header filled in
    /// (cluster, member, term; the revision the apply produced).
    private static func propose<R: ResponseWithHeader>(
        _ server: EtcdServerCore, _ raftRequest: InternalRaftRequest, _ done: @escaping Done<R>,
        _ extract: @escaping @Sendable (ApplyResult) -> R?
    ) {
        server.propose(raftRequest) { result in
            done(result.flatMap { applied in
                guard var response = extract(applied) else { return .failure(.other("unexpected apply result")) }
                response.header = server.header(revision: response.header?.revision ?? 0)
                return .success(response)
            })
        }
    }
}

/// Responses whose header the service fills in after apply.
protocol ResponseWithHeader: ProtoMessage {
    var header: ResponseHeader? { get set }
}

extension PutResponse: ResponseWithHeader {}
extension DeleteRangeResponse: ResponseWithHeader {}
extension TxnResponse: ResponseWithHeader {}
extension CompactionResponse: ResponseWithHeader {}
