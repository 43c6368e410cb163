import Transport

/// Every error a client can see, with etcd's gRPC code and exact message
/// (etcd `api/v3rpc/rpctypes/error.go`). Clients, Kubernetes among them, compare the message
/// strings, so the text is the contract. This is the only place that maps errors to gRPC.
public enum EtcdError: Error, Equatable, Sendable {
    case emptyKey
    case keyNotFound
    case valueProvided
    case leaseProvided
    case tooManyOps
    case duplicateKey
    case compacted
    case futureRevision
    case noSpace
    case leaseNotFound
    case leaseExists
    case leaseTTLTooLarge
    case watchCanceled
    case memberExists
    case peerURLExists
    case memberNotEnoughStarted
    case memberBadURLs
    case memberNotFound
    case memberNotLearner
    case learnerNotReady
    case tooManyLearners
    /// A learner answers only serializable reads and Status (etcd's interceptor).
    case notSupportedForLearner
    case requestTooLarge
    case tooManyRequests
    case rootUserNotExist
    case rootRoleNotExist
    case userAlreadyExists
    case userEmpty
    case userNotFound
    case roleAlreadyExists
    case roleNotFound
    case roleEmpty
    case authFailed
    case permissionDenied
    case roleNotGranted
    case permissionNotGranted
    case authNotEnabled
    case invalidAuthToken
    case invalidAuthManagement
    case authOldRevision
    case noLeader
    case notLeader
    case leaderChanged
    case notCapable
    case stopped
    case timeout
    case timeoutDueToLeaderFail
    case timeoutDueToConnectionLost
    case timeoutWaitAppliedIndex
    case timeoutLeaderTransfer
    case unhealthy
    case corrupt
    case badLeaderTransferee
    case invalidSortOption
    case canceled
    case clusterVersionUnavailable
    case wrongDowngradeVersionFormat
    case invalidDowngradeTargetVersion
    case downgradeInProcess
    case noInflightDowngrade
    /// etcd's `ErrUnknownMethod` (a Downgrade action it does not know): not in its gRPC error
    /// table, so sent as UNKNOWN.
    case unknownMethod
    /// A failure with no etcd equivalent; sent as UNKNOWN with its text, as grpc-go does for
    /// unmapped errors.
    case other(String)

    public var status: GRPCStatus {
        let (code, message) = Self.table(self)
        return GRPCStatus(code, message)
    }

    private static func table(_ e: EtcdError) -> (GRPCStatusCode, String) {
        switch e {
        case .emptyKey: return (.invalidArgument, "etcdserver: key is not provided")
        case .keyNotFound: return (.invalidArgument, "etcdserver: key not found")
        case .valueProvided: return (.invalidArgument, "etcdserver: value is provided")
        case .leaseProvided: return (.invalidArgument, "etcdserver: lease is provided")
        case .tooManyOps: return (.invalidArgument, "etcdserver: too many operations in txn request")
        case .duplicateKey: return (.invalidArgument, "etcdserver: duplicate key given in txn request")
        case .compacted: return (.outOfRange, "etcdserver: mvcc: required revision has been compacted")
        case .futureRevision: return (.outOfRange, "etcdserver: mvcc: required revision is a future revision")
        case .noSpace: return (.resourceExhausted, "etcdserver: mvcc: database space exceeded")
        case .leaseNotFound: return (.notFound, "etcdserver: requested lease not found")
        case .leaseExists: return (.failedPrecondition, "etcdserver: lease already exists")
        case .leaseTTLTooLarge: return (.outOfRange, "etcdserver: too large lease TTL")
        case .watchCanceled: return (.cancelled, "etcdserver: watch canceled")
        case .memberExists: return (.failedPrecondition, "etcdserver: member ID already exist")
        case .peerURLExists: return (.failedPrecondition, "etcdserver: Peer URLs already exists")
        case .memberNotEnoughStarted: return (.failedPrecondition, "etcdserver: re-configuration failed due to not enough started members")
        case .memberBadURLs: return (.invalidArgument, "etcdserver: given member URLs are invalid")
        case .memberNotFound: return (.notFound, "etcdserver: member not found")
        case .memberNotLearner: return (.failedPrecondition, "etcdserver: can only promote a learner member")
        case .learnerNotReady: return (.failedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader")
        case .tooManyLearners: return (.failedPrecondition, "etcdserver: too many learner members in cluster")
        case .notSupportedForLearner: return (.unavailable, "etcdserver: rpc not supported for learner")
        case .requestTooLarge: return (.invalidArgument, "etcdserver: request is too large")
        case .tooManyRequests: return (.resourceExhausted, "etcdserver: too many requests")
        case .rootUserNotExist: return (.failedPrecondition, "etcdserver: root user does not exist")
        case .rootRoleNotExist: return (.failedPrecondition, "etcdserver: root user does not have root role")
        case .userAlreadyExists: return (.failedPrecondition, "etcdserver: user name already exists")
        case .userEmpty: return (.invalidArgument, "etcdserver: user name is empty")
        case .userNotFound: return (.failedPrecondition, "etcdserver: user name not found")
        case .roleAlreadyExists: return (.failedPrecondition, "etcdserver: role name already exists")
        case .roleNotFound: return (.failedPrecondition, "etcdserver: role name not found")
        case .roleEmpty: return (.invalidArgument, "etcdserver: role name is empty")
        case .authFailed: return (.invalidArgument, "etcdserver: authentication failed, invalid user ID or password")
        case .permissionDenied: return (.permissionDenied, "etcdserver: permission denied")
        case .roleNotGranted: return (.failedPrecondition, "etcdserver: role is not granted to the user")
        case .permissionNotGranted: return (.failedPrecondition, "etcdserver: permission is not granted to the role")
        case .authNotEnabled: return (.failedPrecondition, "etcdserver: authentication is not enabled")
        case .invalidAuthToken: return (.unauthenticated, "etcdserver: invalid auth token")
        case .invalidAuthManagement: return (.invalidArgument, "etcdserver: invalid auth management")
        case .authOldRevision: return (.invalidArgument, "etcdserver: revision of auth store is old")
        case .noLeader: return (.unavailable, "etcdserver: no leader")
        case .notLeader: return (.failedPrecondition, "etcdserver: not leader")
        case .leaderChanged: return (.unavailable, "etcdserver: leader changed")
        case .notCapable: return (.unavailable, "etcdserver: not capable")
        case .stopped: return (.unavailable, "etcdserver: server stopped")
        case .timeout: return (.unavailable, "etcdserver: request timed out")
        case .timeoutDueToLeaderFail: return (.unavailable, "etcdserver: request timed out, possibly due to previous leader failure")
        case .timeoutDueToConnectionLost: return (.unavailable, "etcdserver: request timed out, possibly due to connection lost")
        case .timeoutWaitAppliedIndex: return (.unavailable, "etcdserver: request timed out, waiting for the applied index took too long")
        case .timeoutLeaderTransfer: return (.deadlineExceeded, "etcdserver: request timed out, leader transfer took too long")
        case .unhealthy: return (.unavailable, "etcdserver: unhealthy cluster")
        case .corrupt: return (.dataLoss, "etcdserver: corrupt cluster")
        case .badLeaderTransferee: return (.failedPrecondition, "etcdserver: bad leader transferee")
        case .invalidSortOption: return (.invalidArgument, "etcdserver: invalid sort option")
        case .canceled: return (.cancelled, "etcdserver: request canceled")
        case .clusterVersionUnavailable: return (.unavailable, "etcdserver: cluster version not found during downgrade")
        case .wrongDowngradeVersionFormat: return (.invalidArgument, "etcdserver: wrong downgrade target version format")
        case .invalidDowngradeTargetVersion: return (.invalidArgument, "etcdserver: invalid downgrade target version")
        case .downgradeInProcess: return (.failedPrecondition, "etcdserver: cluster has a downgrade job in progress")
        case .noInflightDowngrade: return (.failedPrecondition, "etcdserver: no inflight downgrade job")
        case .unknownMethod: return (.unknown, "etcdserver: unknown method")
        case .other(let text): return (.unknown, text)
        }
    }
}
