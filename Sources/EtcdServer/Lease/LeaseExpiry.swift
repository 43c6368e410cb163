import EtcdProto
import Logging

/// The leader's expiry round, run by the raft thread (`RaftNode.timer`): when a lease's time is
/// up it proposes a LeaseRevoke through the log, like any client revoke, so every member deletes
/// the lease's keys at the same log index. At most `LeaseTable.revokeLimitPerRound` revokes are
/// proposed per `LeaseTable.revokeRoundNanoseconds` (etcd's `leaseRevokeRate`, 1000/s); the rest
/// wait for the next round. A lease whose revoke does not commit is proposed again after
/// `LeaseTable.revokeRetryNanoseconds`.
///
/// Rounds run when a lease is due, not on a fixed tick, so keys go on time.
final class LeaseExpiry: RaftLoopTimer {
    typealias Propose = (InternalRaftRequest, @escaping @Sendable (Result<ApplyResult, EtcdError>) -> Void) -> Void

    private let lessor: Lessor
    private let propose: Propose
    private let logger: Logger
    /// Start of the current rate window and the revokes proposed in it (raft thread only).
    private var windowStartNanoseconds: Int64 = .min
    private var proposedInWindow = 0

    init(lessor: Lessor, logger: Logger, propose: @escaping Propose) {
        self.lessor = lessor
        self.logger = logger
        self.propose = propose
    }

    func nanosecondsUntilDue() -> Int64? {
        guard let untilDeadline = lessor.nanosecondsUntilNextDeadline else { return nil }
        if proposedInWindow >= LeaseTable.revokeLimitPerRound {
            let untilWindowEnd = windowStartNanoseconds &+ LeaseTable.revokeRoundNanoseconds &- lessor.clock.nowNanoseconds
            return max(untilDeadline, untilWindowEnd)
        }
        return untilDeadline
    }

    func fire() {
        let now = lessor.clock.nowNanoseconds
        if now &- windowStartNanoseconds >= LeaseTable.revokeRoundNanoseconds || windowStartNanoseconds == .min {
            windowStartNanoseconds = now
            proposedInWindow = 0
        }
        let budget = LeaseTable.revokeLimitPerRound - proposedInWindow
        guard budget > 0 else { return }
        let expired = lessor.takeExpired(limit: budget)
        proposedInWindow += expired.count
        for id in expired {
            var request = InternalRaftRequest()
            request.leaseRevoke = LeaseRevokeRequest(id: id)
            let logger = self.logger
            propose(request) { result in
                switch result {
                case .success:
                    logger.debug("revoked an expired lease", metadata: ["lease-id": "\(String(UInt64(bitPattern: id), radix: 16))"])
                case .failure(.leaseNotFound):
                    break  // revoked by a client meanwhile
                case .failure(let error):
                    logger.warning("failed to revoke lease", metadata: [
                        "lease-id": "\(String(UInt64(bitPattern: id), radix: 16))", "error": "\(error)",
                    ])
                }
            }
        }
    }
}
