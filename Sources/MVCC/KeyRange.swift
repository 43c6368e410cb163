#if canImport(Glibc)
import Glibc
#endif

/// The keys a request names, from etcd's (key, range_end) pair:
/// - empty `range_end`: the single key `key`;
/// - `range_end` == "\0": every key ≥ `key` (and with `key` == "\0" too: every key);
/// - otherwise the half-open interval [key, range_end), empty if range_end ≤ key.
public enum KeyRange: Equatable, Sendable {
    case single([UInt8])
    case interval(start: [UInt8], end: [UInt8]?)

    public init(key: [UInt8], rangeEnd: [UInt8]) {
        if rangeEnd.isEmpty {
            self = .single(key)
        } else if rangeEnd == [0] {
            self = .interval(start: key, end: nil)
        } else {
            self = .interval(start: key, end: rangeEnd)
        }
    }

    public var start: [UInt8] {
        switch self {
        case .single(let k): return k
        case .interval(let s, _): return s
        }
    }

    /// Whether `key` lies in the range.
    public func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .single(let k):
            return k.withUnsafeBytes { Self.compare($0, key) == 0 }
        case .interval(let s, let e):
            let afterStart = s.withUnsafeBytes { Self.compare($0, key) <= 0 }
            guard afterStart else { return false }
            guard let e else { return true }
            return e.withUnsafeBytes { Self.compare(key, $0) < 0 }
        }
    }

    /// Whether `key` is past the end of the range (so a forward scan can stop).
    public func isPastEnd(_ key: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .single(let k):
            return k.withUnsafeBytes { Self.compare(key, $0) > 0 }
        case .interval(_, let e):
            guard let e else { return false }
            return e.withUnsafeBytes { Self.compare(key, $0) >= 0 }
        }
    }

    /// Whether two ranges share a key (etcd's txn duplicate-key check uses this for deletes).
    public func overlaps(_ other: KeyRange) -> Bool {
        func bounds(_ r: KeyRange) -> ([UInt8], [UInt8]?) {
            switch r {
            case .single(let k): return (k, k + [0])
            case .interval(let s, let e): return (s, e)
            }
        }
        let (s1, e1) = bounds(self)
        let (s2, e2) = bounds(other)
        let startBeforeOtherEnd = e2.map { Self.less(s1, $0) } ?? true
        let otherStartBeforeEnd = e1.map { Self.less(s2, $0) } ?? true
        return startBeforeOtherEnd && otherStartBeforeEnd
    }

    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in compare(x, y) < 0 } }
    }

    /// memcmp order, shorter first on a common prefix (LMDB's default key order).
    @inline(__always)
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let c = memcmpBytes(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return c }
        }
        return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
    }
}

@inline(__always)
func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
    Int(memcmp(a, b, n))
}
