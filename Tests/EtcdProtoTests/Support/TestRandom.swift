import EtcdProto

/// A seeded generator of protobuf-shaped test values (SplitMix64). One seed reproduces a whole run:
/// tests print it on failure, and `SWETCD_PROTO_SEED=<n>` replays it.
struct TestRandom: RandomNumberGenerator {
    private var state: UInt64
    /// Nesting of messages being generated; recursive types stop recursing past `depthMax`.
    var depth = 0
    static let depthMax = 4

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// True with probability `numerator / denominator`.
    mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        next() % denominator < numerator
    }

    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func bool() -> Bool { next() & 1 == 1 }

    /// Zero often (a proto3 default is not written), small values, edges, and full-width values.
    mutating func uint64() -> UInt64 {
        switch below(8) {
        case 0, 1: return 0
        case 2, 3: return next() % 300
        case 4: return [UInt64.max, UInt64.max - 1, 1 << 63, 127, 128, 16_383, 16_384][below(7)]
        default: return next() >> UInt64(below(64))
        }
    }

    mutating func int64() -> Int64 {
        switch below(8) {
        case 0, 1: return 0
        case 2: return Int64(below(300))
        case 3: return -Int64(below(300)) - 1
        case 4: return [Int64.max, Int64.min, -1, 1, Int64(Int32.max), Int64(Int32.min)][below(6)]
        default: return Int64(bitPattern: next()) >> Int64(below(64))
        }
    }

    mutating func int32() -> Int32 { Int32(truncatingIfNeeded: int64()) }

    mutating func uint32() -> UInt32 { UInt32(truncatingIfNeeded: uint64()) }

    /// An enum's raw value: usually a known one, sometimes an unknown one (negative included),
    /// which proto3 requires a decoder to keep.
    mutating func enumRaw(knownCount: Int32) -> Int32 {
        if chance(17, in: 20) { return Int32(below(Int(knownCount))) }
        return [Int32.min, -1, knownCount, 1000, Int32.max][below(5)]
    }

    /// Bytes, empty a third of the time, sometimes longer than 127 (a two-byte length prefix).
    mutating func bytes() -> [UInt8] {
        let count: Int
        switch below(9) {
        case 0, 1, 2: count = 0
        case 3: count = 128 + below(200)
        default: count = 1 + below(24)
        }
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    /// Valid Unicode: ASCII (with quotes, backslashes and NUL), Latin-1, BMP and astral planes.
    mutating func string() -> String {
        let count: Int
        switch below(6) {
        case 0, 1: count = 0
        case 2: count = 60 + below(80)
        default: count = 1 + below(16)
        }
        var scalars = String.UnicodeScalarView()
        for _ in 0..<count {
            let value: UInt32
            switch below(10) {
            case 0: value = [0, 0x22, 0x27, 0x5c, 0x0a, 0x7f][below(6)]
            case 1, 2: value = 0xa0 + UInt32(below(0x60))
            case 3: value = 0x4e00 + UInt32(below(0x5000))
            case 4: value = 0x1f300 + UInt32(below(0x300))
            default: value = 0x20 + UInt32(below(0x5f))
            }
            scalars.append(Unicode.Scalar(value)!)
        }
        return String(scalars)
    }

    mutating func array<T>(max: Int = 4, _ make: (inout TestRandom) -> T) -> [T] {
        let count = chance(1, in: 3) ? 0 : 1 + below(max)
        var out: [T] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(make(&self)) }
        return out
    }

    mutating func strings() -> [String] { array { $0.string() } }

    /// An optional sub-message: absent, present but empty (presence still carried), or random.
    mutating func message<T: Arbitrary>(_: T.Type = T.self) -> T? {
        switch below(10) {
        case 0, 1, 2: return nil
        case 3: return T()
        default: return nested { T.arbitrary(&$0) }
        }
    }

    mutating func messages<T: Arbitrary>(_: T.Type = T.self, max: Int = 3) -> [T] {
        array(max: max) { g in g.nested { T.arbitrary(&$0) } }
    }

    /// Runs `body` one nesting level deeper.
    mutating func nested<T>(_ body: (inout TestRandom) -> T) -> T {
        depth += 1
        defer { depth -= 1 }
        return body(&self)
    }

    /// Whether a recursive type may nest one more level.
    var mayRecurse: Bool { depth < Self.depthMax }
}

/// A message type that can make seeded random instances of itself.
protocol Arbitrary: NamedProtoMessage {
    static func arbitrary(_ g: inout TestRandom) -> Self
}
