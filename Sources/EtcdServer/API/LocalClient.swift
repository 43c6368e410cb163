import EtcdProto
import MVCC
import Synchronization

/// The server as a client of itself. etcd's v3lock and v3election servers talk to etcd through an
/// in-process clientv3; these are the same requests on the same paths as a gRPC call takes them
/// (validation, the log for writes, a ReadIndex round for linearizable reads), as async
/// functions, plus `waitForDelete` in place of a client's watch for a key's deletion.
///
/// Threading: callable from any task; completions arrive on the raft thread or a range reader and
/// only resume the waiting task.
struct LocalClient: Sendable {
    let server: EtcdServerCore
    let taps: KeyTaps

    /// etcd's `concurrency` session TTL when a request names no lease (`defaultSessionTTL`).
    static let defaultSessionTTL: Int64 = 60

    /// A linearizable (or, if asked, serializable) range, read off the raft thread.
    func range(_ request: RangeRequest) async throws(EtcdError) -> RangeResponse {
        let server = self.server
        let result: Result<RangeResponse, EtcdError> = await withCheckedContinuation { continuation in
            server.whenReadable(serializable: request.serializable) { ready in
                switch ready {
                case .failure(let error): continuation.resume(returning: .failure(error))
                case .success: KVService.rangeReader().async { continuation.resume(returning: server.range(request)) }
                }
            }
        }
        return try result.get()
    }

    func txn(_ request: TxnRequest) async throws(EtcdError) -> TxnResponse {
        try RequestValidation.check(request, maxTxnOps: server.config.maxTxnOps)
        var raftRequest = InternalRaftRequest()
        raftRequest.txn = request
        guard case .txn(var response) = try await propose(raftRequest) else { throw .other("unexpected apply result") }
        response.header = server.header(revision: response.header?.revision ?? 0)
        return response
    }

    func delete(_ key: [UInt8]) async throws(EtcdError) -> DeleteRangeResponse {
        let request = DeleteRangeRequest(key: key)
        try RequestValidation.check(request)
        var raftRequest = InternalRaftRequest()
        raftRequest.deleteRange = request
        guard case .deleteRange(var response) = try await propose(raftRequest) else { throw .other("unexpected apply result") }
        response.header = server.header(revision: response.header?.revision ?? 0)
        return response
    }

    /// A lease with an ID the server picks (positive, as LeaseService picks one).
    func grantLease(ttl: Int64) async throws(EtcdError) -> Int64 {
        var request = LeaseGrantRequest(ttl: ttl)
        while request.id == 0 { request.id = Int64(bitPattern: server.nextID() & (1 << 63 - 1)) }
        var raftRequest = InternalRaftRequest()
        raftRequest.leaseGrant = request
        guard case .leaseGrant(let response) = try await propose(raftRequest) else { throw .other("unexpected apply result") }
        return response.id
    }

    private func propose(_ request: InternalRaftRequest) async throws(EtcdError) -> ApplyResult {
        let server = self.server
        let result: Result<ApplyResult, EtcdError> = await withCheckedContinuation { continuation in
            server.propose(request) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Returns once `key`, as created at `createRevision`, is gone (deleted, or replaced by a
    /// snapshot from the leader: the caller reads again), or throws `.canceled` once `call` is.
    /// etcd's `waitDelete` watches the key from the revision it was read at; here the tap is
    /// added first and the key read after, which misses nothing either (see `KeyTaps`).
    func waitForDelete(of key: [UInt8], createRevision: Int64, _ call: CallCancellation) async throws(EtcdError) {
        let signal = OneShot<Bool>()
        let tap = taps.add(.single(key)) { event in
            switch event {
            case .changes(let changes): if changes.contains(where: { $0.isDelete }) { signal.fire(true) }
            case .storeReplaced: signal.fire(true)
            }
        }
        defer { taps.remove(tap) }
        let now = try await range(RangeRequest(key: key, serializable: true))
        guard now.kvs.first?.createRevision == createRevision else { return }
        if await call.wait(for: signal) == nil { throw .canceled }
    }
}

/// How a waiting service call learns that its client is gone (the client cancelled, its
/// deadline passed, the connection closed): etcd's handlers see their context end.
struct CallCancellation: Sendable {
    let isCancelled: @Sendable () -> Bool
    let whenCancelled: @Sendable (@escaping @Sendable () -> Void) -> Void

    /// The value `signal` fires with, or nil once the call is cancelled first.
    func wait<T: Sendable>(for signal: OneShot<T>) async -> T? {
        whenCancelled { signal.cancel() }
        return await signal.value()
    }
}

/// A value delivered once from any thread to one waiting task (nil when cancelled). Later fires
/// and cancels are ignored.
final class OneShot<T: Sendable>: Sendable {
    private enum State {
        case pending(CheckedContinuation<T?, Never>?)
        case done(T?)
    }

    private let state = Mutex(State.pending(nil))

    func fire(_ value: T) { settle(value) }

    func cancel() { settle(nil) }

    private func settle(_ value: T?) {
        let waiter: CheckedContinuation<T?, Never>? = state.withLock { s in
            guard case .pending(let waiter) = s else { return nil }
            s = .done(value)
            return waiter
        }
        waiter?.resume(returning: value)
    }

    /// Waits for `fire` or `cancel`; one waiter only.
    func value() async -> T? {
        await withCheckedContinuation { continuation in
            let ready: T?? = state.withLock { s in
                switch s {
                case .done(let value): return .some(value)
                case .pending(let waiter):
                    precondition(waiter == nil ? true : false, "OneShot has one waiter")
                    s = .pending(continuation)
                    return .none
                }
            }
            if case .some(let value) = ready { continuation.resume(returning: value) }
        }
    }
}
