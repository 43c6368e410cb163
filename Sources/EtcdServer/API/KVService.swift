import EtcdProto
import MVCC
import Transport

/// `etcdserverpb.KV`: Range and read-only Txn are served from an LMDB snapshot on the calling
/// event loop; Put, DeleteRange, write Txn and Compact go through the log.
struct KVService {
    let server: EtcdServerCore

    func register(_ router: inout GRPCRouter) {
        let server = self.server
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Range", RangeRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<RangeResponse, EtcdError>) -> Void) in
            done(server.range(request))
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Put", PutRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<PutResponse, EtcdError>) -> Void) in
            do {
                try RequestValidation.check(request)
            } catch let error as EtcdError {
                return done(.failure(error))
            } catch {
                return done(.failure(.other("\(error)")))
            }
            var raftRequest = InternalRaftRequest()
            raftRequest.put = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .put(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/DeleteRange", DeleteRangeRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<DeleteRangeResponse, EtcdError>) -> Void) in
            do {
                try RequestValidation.check(request)
            } catch let error as EtcdError {
                return done(.failure(error))
            } catch {
                return done(.failure(.other("\(error)")))
            }
            var raftRequest = InternalRaftRequest()
            raftRequest.deleteRange = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .deleteRange(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Txn", TxnRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<TxnResponse, EtcdError>) -> Void) in
            do {
                try RequestValidation.check(request, maxTxnOps: server.config.maxTxnOps)
            } catch let error as EtcdError {
                return done(.failure(error))
            } catch {
                return done(.failure(.other("\(error)")))
            }
            if KVApplier.isReadOnly(request) {
                return done(server.readOnlyTxn(request))
            }
            var raftRequest = InternalRaftRequest()
            raftRequest.txn = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .txn(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
        ServiceSupport.unary(&router, "/etcdserverpb.KV/Compact", CompactionRequest.self, server: server) { (request, _, done: @escaping @Sendable (Result<CompactionResponse, EtcdError>) -> Void) in
            var raftRequest = InternalRaftRequest()
            raftRequest.compaction = request
            server.propose(raftRequest) { result in
                done(result.flatMap { applied in
                    guard case .compaction(var response) = applied else { return .failure(.other("unexpected apply result")) }
                    response.header = server.header(revision: response.header?.revision ?? 0)
                    return .success(response)
                })
            }
        }
    }
}
