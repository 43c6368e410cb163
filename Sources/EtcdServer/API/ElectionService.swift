import EtcdProto
import MVCC
import Transport

/// `v3electionpb.Election` (etcd's `api/v3election`): a candidate's key is `<name>/<lease in
/// hex>`; the leader is the oldest key under `<name>/` and its value is what it proclaims.
/// Campaign waits until every older candidate's key is deleted. Observe streams the leader.
struct ElectionService {
    let client: LocalClient

    typealias R = ConcurrencyRecipes

    func register(_ router: inout GRPCRouter) {
        let client = self.client
        let server = client.server
        ServiceSupport.unaryTask(&router, "/v3electionpb.Election/Campaign", CampaignRequest.self, server: server) { (request, call) async throws(EtcdError) -> CampaignResponse in
            do throws(EtcdError) {
                return try await Self.campaign(request, client, call)
            } catch {
                throw R.asSeenThroughClient(error)
            }
        }
        ServiceSupport.unaryTask(&router, "/v3electionpb.Election/Proclaim", ProclaimRequest.self, server: server) { (request, _) async throws(EtcdError) -> ProclaimResponse in
            do throws(EtcdError) {
                guard let leader = request.leader else { throw R.missingLeaderKey }
                let lease = try await R.sessionLease(leader.lease, client)
                var response = ProclaimResponse()
                response.header = try await Self.proclaim(key: leader.key, revision: leader.rev, lease: lease, value: request.value, client)
                return response
            } catch {
                throw R.asSeenThroughClient(error)
            }
        }
        ServiceSupport.unaryTask(&router, "/v3electionpb.Election/Resign", ResignRequest.self, server: server) { (request, _) async throws(EtcdError) -> ResignResponse in
            do throws(EtcdError) {
                guard let leader = request.leader else { throw R.missingLeaderKey }
                // etcd opens a session for the request's lease first (granting one for lease 0).
                _ = try await R.sessionLease(leader.lease, client)
                var response = ResignResponse()
                response.header = try await Self.resign(key: leader.key, revision: leader.rev, client)
                return response
            } catch {
                throw R.asSeenThroughClient(error)
            }
        }
        ServiceSupport.unaryTask(&router, "/v3electionpb.Election/Leader", LeaderRequest.self, server: server) { (request, _) async throws(EtcdError) -> LeaderResponse in
            do throws(EtcdError) {
                let first = try await client.range(R.firstCreated(R.prefix(request.name)))
                guard let kv = first.kvs.first else { throw R.noLeader }
                return LeaderResponse(header: first.header, kv: kv)
            } catch {
                throw R.asSeenThroughClient(error)
            }
        }
        router.register("/v3electionpb.Election/Observe", .streaming(kind: .serverStreaming) { context, stream in
            if let error = ServiceSupport.leaderCheck(context, server) {
                stream.finish(error.status)
                return ClosedStreamObserver()
            }
            return ElectionObserver(stream: stream, client: client)
        })
    }

    /// etcd's `Election.Campaign` on a session with the request's lease.
    static func campaign(_ request: CampaignRequest, _ client: LocalClient, _ call: CallCancellation) async throws(EtcdError) -> CampaignResponse {
        let lease = try await R.sessionLease(request.lease, client)
        let prefix = R.prefix(request.name)
        let key = R.sessionKey(prefix, lease: lease)
        let enter = TxnRequest(
            compare: [R.createRevisionIs(key, 0)],
            success: [RequestOp(.requestPut(PutRequest(key: key, value: request.value, lease: lease)))],
            failure: [RequestOp(.requestRange(RangeRequest(key: key)))])
        let entered = try await client.txn(enter)
        var revision = entered.header?.revision ?? 0
        if !entered.succeeded {
            // This session is a candidate already: keep its place, proclaim the new value.
            guard let mine = R.rangeKVs(entered, 0).first else { throw R.notLeader }
            revision = mine.createRevision
            if mine.value != request.value {
                do throws(EtcdError) {
                    _ = try await proclaim(key: key, revision: revision, lease: lease, value: request.value, client)
                } catch {
                    _ = try? await resign(key: key, revision: revision, client)
                    throw error
                }
            }
        }
        do throws(EtcdError) {
            try await R.waitDeletes(prefix, maxCreateRevision: revision - 1, client, call)
        } catch {
            // etcd resigns when the campaign's own context ended (client gone, deadline passed).
            if call.isCancelled() { _ = try? await resign(key: key, revision: revision, client) }
            throw error
        }
        var response = CampaignResponse()
        response.header = entered.header
        var leader = LeaderKey()
        leader.name = request.name
        leader.key = key
        leader.rev = revision
        leader.lease = lease
        response.leader = leader
        return response
    }

    /// `Election.Proclaim`: a new value, only while `key` is still the one created at `revision`.
    static func proclaim(key: [UInt8], revision: Int64, lease: Int64, value: [UInt8], _ client: LocalClient) async throws(EtcdError) -> ResponseHeader? {
        let txn = TxnRequest(compare: [R.createRevisionIs(key, revision)], success: [RequestOp(.requestPut(PutRequest(key: key, value: value, lease: lease)))])
        let response = try await client.txn(txn)
        guard response.succeeded else { throw R.notLeader }
        return response.header
    }

    /// `Election.Resign`: deletes `key` if it is still the one created at `revision`; no error
    /// when it is not.
    static func resign(key: [UInt8], revision: Int64, _ client: LocalClient) async throws(EtcdError) -> ResponseHeader? {
        let txn = TxnRequest(compare: [R.createRevisionIs(key, revision)], success: [RequestOp(.requestDeleteRange(DeleteRangeRequest(key: key)))])
        return try await client.txn(txn).header
    }
}

extension LeaderResponse {
    init(header: ResponseHeader?, kv: KeyValue) {
        self.init()
        self.header = header
        self.kv = kv
    }
}
