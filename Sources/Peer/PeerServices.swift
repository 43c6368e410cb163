import EtcdProto

/// What the peer module needs from the member it serves (`EtcdServer` implements it). The peer
/// module knows raft messages and bytes; the member owns raft, the store and the membership.
/// Every method may be called from any thread (event loops above all) and must not block.
public protocol PeerServices: AnyObject, Sendable {
    var localID: UInt64 { get }
    var clusterID: UInt64 { get }

    /// A raft message from a peer (link heartbeats never get here). The outcome tells the
    /// pipeline handler what to answer.
    func process(_ message: Message) -> PeerProcessOutcome

    /// Whether `id` was removed from the cluster (its streams get 410 Gone).
    func isRemoved(_ id: UInt64) -> Bool

    /// A peer answered 410 Gone: this member was removed from the cluster (it stops, as etcd's
    /// member does on `errMemberRemoved`). May be called many times.
    func removedFromCluster(by remote: UInt64)

    /// The sender of a message could not be reached (raft slows down towards it).
    func reportUnreachable(_ id: UInt64)

    /// How a snapshot send to `id` ended.
    func reportSnapshot(_ id: UInt64, succeeded: Bool)

    /// `GET /members`: the members as etcd's JSON array.
    func membersJSON() -> String

    /// `GET /version`: `{"etcdserver":…,"etcdcluster":…}`.
    func versionJSON() -> String

    /// `POST /leases`: renew a lease this member (the leader) holds.
    func leaseRenew(_ request: LeaseKeepAliveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseKeepAliveResponse>) -> Void)

    /// `POST /leases/internal`: a lease's remaining time.
    func leaseTimeToLive(_ request: LeaseTimeToLiveRequest, _ done: @escaping @Sendable (LeaseForwardResult<LeaseTimeToLiveResponse>) -> Void)

    /// `GET /members/hashkv`: etcd's HashKV at `revision` (0: the current one).
    func hashKV(revision: Int64, _ done: @escaping @Sendable (Result<PeerHashKV, PeerServiceError>) -> Void)

    /// `GET /downgrade/enabled`: after a linearizable read, whether a downgrade is in progress.
    func downgradeEnabled(_ done: @escaping @Sendable (Result<Bool, PeerServiceError>) -> Void)

    /// `POST /members/promote/<id>`: promote a learner (this member should lead).
    func promoteMember(_ id: UInt64, _ done: @escaping @Sendable (PeerPromoteOutcome) -> Void)

    /// Where a received snapshot's backend file is written (`member/snap`).
    var snapshotDirectory: String { get }

    /// A snapshot message whose backend file is saved at `dbPath`: step it into raft.
    func snapshotReceived(_ message: Message, dbPath: String) -> PeerProcessOutcome
}

public enum PeerProcessOutcome: Sendable, Equatable {
    case accepted
    /// The sender was removed from the cluster.
    case fromRemovedMember
    /// The message is for another member.
    case wrongRecipient
    case failed(String)
}

/// How a promotion ended, as etcd's `peerMemberPromoteHandler` answers and its
/// `promoteMemberHTTP` reads it.
public enum PeerPromoteOutcome: Sendable, Equatable {
    /// 200 with the members as etcd's JSON array.
    case promoted(membersJSON: String)
    /// 404 `membership: ID not found`.
    case notFound
    /// 412 `membership: can only promote a learner member`.
    case notLearner
    /// 412 `etcdserver: can only promote a learner member which is in sync with leader`.
    case learnerNotReady
    /// 408.
    case timeout
    /// 500, or anything unexpected: the caller tries again until its deadline.
    case failed(String)
}

/// How a forwarded lease request ended, as etcd's leasehttp handler answers it.
public enum LeaseForwardResult<Response: Sendable>: Sendable {
    case ok(Response)
    /// 404 `lease not found`.
    case notFound
    /// 408: the member did not catch up its applied index in time.
    case timeout
    /// 400 with etcd's error text (e.g. `not a primary lessor` on a non-leader).
    case failed(String)
}

/// etcd's answer to a peer's HashKV.
public struct PeerHashKV: Sendable, Equatable {
    public var hash: UInt32
    public var compactRevision: Int64
    /// The current revision (the response header's).
    public var revision: Int64

    public init(hash: UInt32, compactRevision: Int64, revision: Int64) {
        self.hash = hash
        self.compactRevision = compactRevision
        self.revision = revision
    }
}

/// Why a peer request could not be served, in etcd's words.
public struct PeerServiceError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// What a peer answered to `GET /members/hashkv` (etcd's `peerHashKVResp`).
public enum PeerHashKVAnswer: Sendable, Equatable {
    case hash(PeerHashKV)
    /// `mvcc: required revision has been compacted`: this member is behind the peer.
    case compacted
    /// `mvcc: required revision is a future revision`: the peer is behind.
    case futureRevision
    /// No URL answered (each failure was logged).
    case failed(String)
}
