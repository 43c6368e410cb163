import EtcdProto
import Transport

/// `v3lockpb.Lock` (etcd's `api/v3lock`): a lock is the oldest session key under `<name>/`. Lock
/// puts this session's key and waits until every older key is deleted; Unlock deletes the key.
/// A Lock whose client goes away while it waits deletes its key, as etcd's does.
struct LockService {
    let client: LocalClient

    func register(_ router: inout GRPCRouter) {
        let client = self.client
        ServiceSupport.unaryTask(&router, "/v3lockpb.Lock/Lock", LockRequest.self, server: client.server) { (request, call) async throws(EtcdError) -> LockResponse in
            do throws(EtcdError) {
                return try await Self.lock(request, client, call)
            } catch {
                throw ConcurrencyRecipes.asSeenThroughClient(error)
            }
        }
        ServiceSupport.unaryTask(&router, "/v3lockpb.Lock/Unlock", UnlockRequest.self, server: client.server) { (request, _) async throws(EtcdError) -> UnlockResponse in
            do throws(EtcdError) {
                var response = UnlockResponse()
                response.header = try await client.delete(request.key).header
                return response
            } catch {
                throw ConcurrencyRecipes.asSeenThroughClient(error)
            }
        }
    }

    /// etcd's `Mutex.Lock` on a session with the request's lease.
    static func lock(_ request: LockRequest, _ client: LocalClient, _ call: CallCancellation) async throws(EtcdError) -> LockResponse {
        typealias R = ConcurrencyRecipes
        let lease = try await R.sessionLease(request.lease, client)
        let prefix = R.prefix(request.name)
        let key = R.sessionKey(prefix, lease: lease)
        // tryAcquire: put the key unless this session holds it already; read the owner either way.
        let owner = RequestOp(.requestRange(R.firstCreated(prefix)))
        let acquire = TxnRequest(
            compare: [R.createRevisionIs(key, 0)],
            success: [RequestOp(.requestPut(PutRequest(key: key, value: [], lease: lease))), owner],
            failure: [RequestOp(.requestRange(RangeRequest(key: key))), owner])
        let acquired = try await client.txn(acquire)
        var myRevision = acquired.header?.revision ?? 0
        if !acquired.succeeded {
            guard let mine = R.rangeKVs(acquired, 0).first else { throw R.sessionExpired }
            myRevision = mine.createRevision
        }
        let owners = R.rangeKVs(acquired, 1)
        if owners.isEmpty || owners[0].createRevision == myRevision {
            return LockResponse(header: acquired.header, key: key)
        }
        let held: RangeResponse
        do throws(EtcdError) {
            try await R.waitDeletes(prefix, maxCreateRevision: myRevision - 1, client, call)
            held = try await client.range(RangeRequest(key: key))
        } catch {
            // etcd's Mutex.Lock unlocks when the wait fails (its client gone, its deadline passed).
            _ = try? await client.delete(key)
            throw error
        }
        // The key's lease expired while waiting.
        guard !held.kvs.isEmpty else { throw R.sessionExpired }
        return LockResponse(header: held.header, key: key)
    }
}

extension LockResponse {
    init(header: ResponseHeader?, key: [UInt8]) {
        self.init()
        self.header = header
        self.key = key
    }
}
