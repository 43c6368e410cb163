import EtcdProto
import MVCC

/// etcd's `client/v3/concurrency` as its v3lock and v3election servers use it, on a `LocalClient`:
/// session keys `<name>/<lease in hex>`, ownership by lowest create revision under the prefix,
/// waiting for the deletion of every older key. Same requests, same order, same errors.
enum ConcurrencyRecipes {
    /// The error texts of etcd's `concurrency` package and election server. They reach the client
    /// as gRPC UNKNOWN, as grpc-go sends a plain Go error.
    static let sessionExpired = EtcdError.other("mutex: session is expired")
    static let notLeader = EtcdError.other("election: not leader")
    static let noLeader = EtcdError.other("election: no leader")
    static let missingLeaderKey = EtcdError.other("\"leader\" field must be provided")

    /// What the client sees for an error of the inner client: etcd's clientv3 turns a status into
    /// a plain error with the same text, which grpc-go then sends as UNKNOWN. A cancelled call
    /// keeps its code (its client is gone or its deadline passed; the transport answers it).
    static func asSeenThroughClient(_ error: EtcdError) -> EtcdError {
        if case .canceled = error { return error }
        return .other(error.status.message)
    }

    /// `<prefix>/`: the keys of one lock or election.
    static func prefix(_ name: [UInt8]) -> [UInt8] { name + Array("/".utf8) }

    /// The session key: the prefix and the lease ID as Go's `%x` prints an int64.
    static func sessionKey(_ prefix: [UInt8], lease: Int64) -> [UInt8] {
        let hex = lease < 0 ? "-" + String(0 &- UInt64(bitPattern: lease), radix: 16) : String(lease, radix: 16)
        return prefix + Array(hex.utf8)
    }

    /// clientv3's `GetPrefixRangeEnd`: the first key past every key starting with `prefix`
    /// ("\0", every key from `prefix` on, when there is none).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    /// `Get(prefix, WithFirstCreate()...)`: the oldest key under the prefix.
    static func firstCreated(_ prefix: [UInt8]) -> RangeRequest {
        RangeRequest(key: prefix, rangeEnd: prefixEnd(prefix), limit: 1, sortOrder: .ascend, sortTarget: .create)
    }

    /// `Get(prefix, WithLastCreate()..., WithMaxCreateRev(max))`: the newest key under the prefix
    /// created at or before `maxCreateRevision`.
    static func lastCreated(_ prefix: [UInt8], maxCreateRevision: Int64) -> RangeRequest {
        var request = RangeRequest(key: prefix, rangeEnd: prefixEnd(prefix), limit: 1, sortOrder: .descend, sortTarget: .create)
        request.maxCreateRevision = maxCreateRevision
        return request
    }

    static func createRevisionIs(_ key: [UInt8], _ revision: Int64) -> Compare {
        Compare(key: key, target: .create, result: .equal, .createRevision(revision))
    }

    /// The range answer at `index` of a txn response (empty when it is not one).
    static func rangeKVs(_ response: TxnResponse, _ index: Int) -> [KeyValue] {
        guard index < response.responses.count, case .responseRange(let range)? = response.responses[index].response else { return [] }
        return range.kvs
    }

    /// etcd's `NewSession` with `WithLease(lease)`: lease 0 grants a new one with the default TTL.
    static func sessionLease(_ lease: Int64, _ client: LocalClient) async throws(EtcdError) -> Int64 {
        lease != 0 ? lease : try await client.grantLease(ttl: LocalClient.defaultSessionTTL)
    }

    /// `waitDeletes`: until no key under the prefix older than `maxCreateRevision` is left.
    static func waitDeletes(_ prefix: [UInt8], maxCreateRevision: Int64, _ client: LocalClient, _ call: CallCancellation) async throws(EtcdError) {
        while true {
            let newest = try await client.range(lastCreated(prefix, maxCreateRevision: maxCreateRevision))
            guard let kv = newest.kvs.first else { return }
            try await client.waitForDelete(of: kv.key, createRevision: kv.createRevision, call)
        }
    }
}
