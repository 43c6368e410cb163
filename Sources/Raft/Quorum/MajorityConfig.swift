/// A set of voters decided by simple majority. An empty set is a special case: it agrees to
/// everything (its committed index is `.infinity`, every vote is `.won`), so that a joint
/// configuration with an empty outgoing half behaves exactly like its incoming half.
struct MajorityConfig: Equatable, Sendable {
    /// The voters, sorted ascending without duplicates.
    private(set) var ids: [MemberID]

    init() { ids = [] }

    init(_ members: some Sequence<MemberID>) {
        ids = Array(Set(members)).sorted()
    }

    var count: Int { ids.count }
    var isEmpty: Bool { ids.isEmpty }

    func contains(_ id: MemberID) -> Bool {
        // Small sets (≤ 7 in practice): a linear scan beats hashing.
        ids.contains(id)
    }

    mutating func insert(_ id: MemberID) {
        guard !contains(id) else { return }
        let at = ids.firstIndex(where: { $0 > id }) ?? ids.count
        ids.insert(id, at: at)
    }

    mutating func remove(_ id: MemberID) {
        ids.removeAll { $0 == id }
    }

    /// The largest index that a majority has acknowledged, given each voter's acknowledged index
    /// (`ackedIndex` returns nil for a voter never heard from, which counts as 0).
    func committedIndex(_ ackedIndex: (MemberID) -> LogIndex?) -> LogIndex {
        let n = ids.count
        if n == 0 { return .infinity }
        // Sort the acknowledged indexes descending; the (n/2)-th (0-based) is held by a majority.
        if n <= 7 {
            var stack: (LogIndex, LogIndex, LogIndex, LogIndex, LogIndex, LogIndex, LogIndex) =
                (.zero, .zero, .zero, .zero, .zero, .zero, .zero)
            return withUnsafeMutableBytes(of: &stack) { raw in
                let buf = raw.bindMemory(to: LogIndex.self)
                for i in 0..<n { buf[i] = ackedIndex(ids[i]) ?? .zero }
                Self.insertionSortDescending(buf, count: n)
                return buf[n / 2]
            }
        }
        var acked = ids.map { ackedIndex($0) ?? .zero }
        acked.sort(by: >)
        return acked[n / 2]
    }

    private static func insertionSortDescending(_ buf: UnsafeMutableBufferPointer<LogIndex>, count: Int) {
        var i = 1
        while i < count {
            var j = i
            while j > 0 && buf[j] > buf[j - 1] {
                buf.swapAt(j, j - 1)
                j -= 1
            }
            i += 1
        }
    }

    /// Counts yes/no votes; a voter without an entry in `votes` has not voted yet.
    func voteResult(_ votes: (MemberID) -> Bool?) -> VoteResult {
        if ids.isEmpty { return .won }
        var yes = 0
        var missing = 0
        for id in ids {
            switch votes(id) {
            case true?: yes += 1
            case false?: break
            case nil: missing += 1
            }
        }
        let quorum = ids.count / 2 + 1
        if yes >= quorum { return .won }
        if yes + missing >= quorum { return .pending }
        return .lost
    }

    var description: String {
        "(" + ids.map(\.description).joined(separator: " ") + ")"
    }
}
