/// A small, fast, seedable pseudo-random generator (SplitMix64). Raft uses randomness only for the
/// election timeout; taking the generator from `RaftConfig.randomSeed` makes a member's behaviour a
/// pure function of its inputs, so a simulation replays exactly from one seed.
///
/// Not for cryptography. Distinct members should get distinct seeds (the server can use
/// `MemberID ^ time`), or they time out in lockstep and split votes more often.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (bound > 0), with negligible bias for the small bounds Raft uses.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "empty range")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
