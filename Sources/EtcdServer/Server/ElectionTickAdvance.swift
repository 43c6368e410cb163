import Logging
import NIOCore
import Peer

/// etcd's `adjustTicks` (`--initial-election-tick-advance`, on by default): a member of a
/// multi-member cluster that has just started waits for its peer connections (at most etcd's
/// `ConnReadTimeout`, 5 s, checking every 50 ms) and, once more than one remote member is
/// active, fast-forwards its election ticks to two short of an election, so a fresh cluster
/// elects about one election timeout sooner. A one-member cluster campaigns at once (RaftNode).
///
/// Threading: runs on one event loop as a repeated task; it only reads the transport's peer
/// activity and hands the ticks to the raft thread's inbox.
enum ElectionTickAdvance {
    static let pollInterval = TimeAmount.milliseconds(50)
    /// etcd's `rafthttp.ConnReadTimeout`.
    static let waitLimit = TimeAmount.seconds(5)

    static func start(enabled: Bool, members: Int, electionTicks: Int, raft: RaftNode, peers: PeerTransport,
                      on loop: any EventLoop, logger: Logger) {
        guard members > 1 else { return }
        guard enabled else {
            logger.info("skipping initial election tick advance", metadata: ["election-ticks": "\(electionTicks)"])
            return
        }
        logger.info("starting initial election tick advance", metadata: ["election-ticks": "\(electionTicks)"])
        let giveUp = NIODeadline.now() + waitLimit
        loop.scheduleRepeatedTask(initialDelay: pollInterval, delay: pollInterval) { task in
            let active = peers.peerIDs.filter { peers.activeSince($0) != nil }.count
            if active > 1 {
                let ticks = max(0, electionTicks - 2)
                logger.info("initialized peer connections; fast-forwarding election ticks", metadata: [
                    "forward-ticks": "\(ticks)", "election-ticks": "\(electionTicks)", "active-remote-members": "\(active)",
                ])
                raft.advanceTicks(ticks)
                task.cancel()
            } else if NIODeadline.now() >= giveUp {
                task.cancel()
            }
        }
    }
}
