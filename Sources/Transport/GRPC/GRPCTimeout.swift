import NIOCore

/// Parses the `grpc-timeout` header: 1 to 8 ASCII digits followed by a unit
/// (H, M, S, m, u, n). Returns nil for anything else; the call then runs without a deadline,
/// which is what grpc-go does with a malformed value it cannot parse on the server side.
public enum GRPCTimeout {
    public static let digitsMax = 8

    public static func parse(_ value: String) -> TimeAmount? {
        let utf8 = Array(value.utf8)
        guard utf8.count >= 2, utf8.count <= digitsMax + 1 else { return nil }
        var amount: Int64 = 0
        for c in utf8.dropLast() {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            amount = amount * 10 + Int64(c - 0x30)
        }
        switch utf8.last! {
        case UInt8(ascii: "H"): return .hours(amount)
        case UInt8(ascii: "M"): return .minutes(amount)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }
}
