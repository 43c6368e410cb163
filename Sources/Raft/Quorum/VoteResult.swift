/// The outcome of counting votes (or acknowledgements) against a quorum configuration.
public enum VoteResult: Sendable, Equatable {
    /// Not decided: the missing votes could still go either way.
    case pending
    /// A quorum can no longer be reached.
    case lost
    /// A quorum voted yes.
    case won
}
