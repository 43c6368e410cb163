import EtcdProto

/// A Raft term: a logical clock that only grows. Every election starts a new term, and a term has
/// at most one leader. On the wire it is raftpb's `uint64 term`.
public struct Term: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// The term before any election: a fresh member's term, and the term of index 0.
    public static let zero = Term(0)

    @inlinable public static func < (a: Term, b: Term) -> Bool { a.rawValue < b.rawValue }
    @inlinable public static func == (a: Term, b: Term) -> Bool { a.rawValue == b.rawValue }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    /// The following term.
    @inlinable public var next: Term { Term(rawValue + 1) }
    public var description: String { String(rawValue) }
}

/// A position in the replicated log. Index 0 is the empty prefix: no entry ever has it. On the
/// wire it is raftpb's `uint64 index`/`commit`.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static let zero = LogIndex(0)
    /// Larger than any real index: the committed index of an empty quorum (see `MajorityConfig`).
    public static let infinity = LogIndex(UInt64.max)

    @inlinable public static func < (a: LogIndex, b: LogIndex) -> Bool { a.rawValue < b.rawValue }
    @inlinable public static func == (a: LogIndex, b: LogIndex) -> Bool { a.rawValue == b.rawValue }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    @inlinable public static func + (a: LogIndex, n: UInt64) -> LogIndex { LogIndex(a.rawValue + n) }
    @inlinable public static func - (a: LogIndex, n: UInt64) -> LogIndex { LogIndex(a.rawValue - n) }
    /// The number of indexes from `b` up to `a` (a ≥ b).
    @inlinable public static func - (a: LogIndex, b: LogIndex) -> UInt64 { a.rawValue - b.rawValue }

    public var description: String { rawValue == UInt64.max ? "∞" : String(rawValue) }
}

/// A member's Raft ID (etcd's member ID, printed in hex as etcd does). 0 means "nobody": no
/// leader known, no vote cast.
public struct MemberID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// No member: no leader known, no vote cast.
    public static let none = MemberID(0)

    @inlinable public var isNone: Bool { rawValue == 0 }
    @inlinable public static func < (a: MemberID, b: MemberID) -> Bool { a.rawValue < b.rawValue }
    @inlinable public static func == (a: MemberID, b: MemberID) -> Bool { a.rawValue == b.rawValue }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    public var description: String { String(rawValue, radix: 16) }
}

extension Entry {
    @inlinable var logIndex: LogIndex { LogIndex(index) }
    @inlinable var logTerm: Term { Term(term) }
}
