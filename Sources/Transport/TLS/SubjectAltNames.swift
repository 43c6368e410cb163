import Glibc

/// A certificate's subject alternative names, and etcd's `checkCertSAN`: on the peer port a
/// client certificate that names hosts must name the one it connects from (unless
/// `--experimental-peer-skip-client-san-verification`).
public struct SubjectAltNames: Sendable, Equatable {
    /// IP address SANs in text form ("10.0.0.1", "::1").
    public var ipAddresses: [String] = []
    public var dnsNames: [String] = []

    public init(ipAddresses: [String] = [], dnsNames: [String] = []) {
        self.ipAddresses = ipAddresses
        self.dnsNames = dnsNames
    }

    /// etcd's `checkCertSAN` for a connection from `remoteIP`: nil when accepted, else etcd's
    /// error text. A certificate without SANs is accepted; an IP SAN equal to the address is
    /// enough; otherwise a DNS SAN must match a name the address reverse-resolves to (wildcards
    /// too) or resolve to the address itself. Blocking (DNS): call it off the event loops.
    public func check(remoteIP: String, resolver: HostResolver = .system) -> String? {
        if ipAddresses.isEmpty && dnsNames.isEmpty { return nil }
        let host = Self.normalized(remoteIP) ?? remoteIP
        if !ipAddresses.isEmpty {
            if ipAddresses.contains(where: { (Self.normalized($0) ?? $0) == host }) { return nil }
            if dnsNames.isEmpty {
                return "x509: certificate is valid for \(ipAddresses.joined(separator: ", ")), not \(remoteIP)"
            }
        }
        // Go's isHostInDNS: the reverse names first, then each (non-wildcard) name forward.
        let wildcards = dnsNames.filter { $0.hasPrefix("*.") }.map { String($0.dropFirst()) }
        let names = dnsNames.filter { !$0.hasPrefix("*.") }
        for reverse in resolver.reverse(host) {
            let name = reverse.hasSuffix(".") ? String(reverse.dropLast()) : reverse
            if wildcards.contains(where: { name.hasSuffix($0) }) || names.contains(name) { return nil }
        }
        for name in names where resolver.forward(name).contains(where: { (Self.normalized($0) ?? $0) == host }) {
            return nil
        }
        let quoted = dnsNames.map { "\"\($0)\"" }.joined(separator: " ")
        return "tls: \"\(remoteIP)\" does not match any of DNSNames [\(quoted)]"
    }

    /// Name lookups, replaceable in tests.
    public struct HostResolver: Sendable {
        public var reverse: @Sendable (String) -> [String]
        public var forward: @Sendable (String) -> [String]

        public init(reverse: @escaping @Sendable (String) -> [String], forward: @escaping @Sendable (String) -> [String]) {
            self.reverse = reverse
            self.forward = forward
        }

        /// getnameinfo / getaddrinfo (with /etc/hosts, as Go's resolver reads it).
        public static let system = HostResolver(reverse: reverseLookup, forward: forwardLookup)
    }

    /// 4 or 16 address bytes as text.
    static func ipString(_ bytes: [UInt8]) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &out, socklen_t(out.count)) != nil }
        return ok ? String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// The canonical text of an IP address (so "::ffff:127.0.0.1" and "127.0.0.1" compare equal).
    static func normalized(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { ipString(Array($0)) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return ipString(Array(bytes[12...]))
        }
        return ipString(bytes)
    }

    private static func reverseLookup(_ ip: String) -> [String] {
        var storage = sockaddr_storage()
        var length: socklen_t
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr = v4
            withUnsafeBytes(of: &sin) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, ip, &v6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_addr = v6
            withUnsafeBytes(of: &sin6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            return []
        }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let rc = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
            }
        }
        guard rc == 0 else { return [] }
        return [String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)]
    }

    private static func forwardLookup(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            if let sa = ai.pointee.ai_addr {
                if ai.pointee.ai_family == AF_INET {
                    let sin = UnsafeRawPointer(sa).load(as: sockaddr_in.self)
                    if let s = withUnsafeBytes(of: sin.sin_addr, { ipString(Array($0)) }) { out.append(s) }
                } else if ai.pointee.ai_family == AF_INET6 {
                    let sin6 = UnsafeRawPointer(sa).load(as: sockaddr_in6.self)
                    if let s = withUnsafeBytes(of: sin6.sin6_addr, { ipString(Array($0)) }) { out.append(s) }
                }
            }
            cursor = ai.pointee.ai_next
        }
        return out
    }
}
