import Foundation

/// One `--listen-client-urls` / `--listen-peer-urls` entry, as etcd accepts them:
/// `http://host:port`, `https://host:port`, `unix://path`, `unixs://path`.
public struct ListenURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case http, https, unix, unixs
    }

    public var scheme: Scheme
    /// Host for TCP (an IP or a name; "localhost" binds 127.0.0.1 as Go's net.Listen does).
    public var host: String
    public var port: Int
    /// Socket path for unix schemes.
    public var path: String

    public var isTLS: Bool { scheme == .https || scheme == .unixs }
    public var isUnix: Bool { scheme == .unix || scheme == .unixs }

    public var description: String {
        isUnix ? "\(scheme.rawValue)://\(path)" : "\(scheme.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case invalid(String, reason: String)
        public var description: String {
            switch self {
            case .invalid(let url, let reason): return "invalid URL \"\(url)\": \(reason)"
            }
        }
    }

    public init(scheme: Scheme, host: String, port: Int, path: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
    }

    /// Parses one URL as etcd's `types.NewURLs` does: surrounding spaces are trimmed, the scheme is
    /// case-insensitive, TCP URLs need `host:port` (IPv6 in brackets) and no path — not even "/".
    /// The reasons are etcd's own words. Unlike etcd, the port must be a number in 0...65535 here
    /// (etcd finds that out only when it listens).
    public init(parsing input: String) throws(ParseError) {
        let text = input.trimmingCharacters(in: .whitespaces)
        guard let sep = text.range(of: "://") else { throw .invalid(text, reason: "missing scheme") }
        guard let scheme = Scheme(rawValue: String(text[..<sep.lowerBound]).lowercased()) else {
            throw .invalid(text, reason: "URL scheme must be http, https, unix, or unixs")
        }
        let rest = String(text[sep.upperBound...])
        if scheme == .unix || scheme == .unixs {
            guard !rest.isEmpty else { throw .invalid(text, reason: "empty unix socket path") }
            self.init(scheme: scheme, host: "", port: 0, path: rest)
            return
        }
        if rest.contains("/") {
            // Go's url.Parse puts everything from the first "/" into Path; etcd refuses any Path.
            throw .invalid(text, reason: "URL must not contain a path")
        }
        let hostPortReason = "URL address does not have the form \"host:port\""
        let host: String
        let portText: String
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .invalid(text, reason: hostPortReason) }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw .invalid(text, reason: hostPortReason) }
            portText = String(after.dropFirst())
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw .invalid(text, reason: hostPortReason)
            }
            host = String(rest[..<colon])
            // net.SplitHostPort: an unbracketed host may not contain ':' ("too many colons").
            guard !host.contains(":") else { throw .invalid(text, reason: hostPortReason) }
            portText = String(rest[rest.index(after: colon)...])
        }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let port = Int(portText), (0...65535).contains(port)
        else {
            throw .invalid(text, reason: "invalid port \"\(portText)\"")
        }
        self.init(scheme: scheme, host: host, port: port)
    }

    /// The address to bind: names other than "localhost" are bound as given.
    public var bindHost: String {
        if host == "localhost" || host.isEmpty { return host.isEmpty ? "0.0.0.0" : "127.0.0.1" }
        return host
    }
}
