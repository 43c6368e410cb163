import NIOCore

/// Parses the `grpc-timeout` header: 1 to 8 ASCII digits followed by a unit
/// (H, M, S, m, u, n), as the gRPC spec writes it. Returns nil for anything else; the server
/// then refuses the call with INTERNAL "malformed grpc-timeout: ...", as grpc-go does. (grpc-go
/// also takes a sign, through strconv.ParseInt; no client sends one, and we do not.) Values too
/// large for a `TimeAmount` saturate (NIO caps the multiplication).
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
