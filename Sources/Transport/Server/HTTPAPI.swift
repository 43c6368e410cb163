import NIOCore

/// A whole plain HTTP request (HTTP/1.1, or HTTP/2 without `content-type: application/grpc`).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string.
    public var path: String
    /// The raw query string after `?`, or "".
    public var query: String
    /// Header names in lower case.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var peer: PeerInfo

    public init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8], peer: PeerInfo) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Value of a query parameter (no percent-decoding beyond what etcd's endpoints need).
    public func queryValue(_ key: String) -> String? {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.first.map(String.init) == key { return kv.count > 1 ? String(kv[1]) : "" }
        }
        return nil
    }

    /// Every value of a query parameter, percent-decoded as Go's `url.ParseQuery` does.
    public func queryValues(_ key: String) -> [String] {
        var values: [String] = []
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = kv.first.map({ Self.percentDecoded(String($0)) }), name == key else { continue }
            values.append(kv.count > 1 ? Self.percentDecoded(String(kv[1])) : "")
        }
        return values
    }

    public func hasQueryKey(_ key: String) -> Bool {
        query.split(separator: "&").contains { pair in
            Self.percentDecoded(String(pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")) == key
        }
    }

    /// `+` is a space, `%XX` a byte; a malformed escape is kept as it is.
    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), utf8.count >= 2,
                      let v = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Splits a request target into path and query.
    public static func splitTarget(_ target: String) -> (path: String, query: String) {
        if let q = target.firstIndex(of: "?") {
            return (String(target[..<q]), String(target[target.index(after: q)...]))
        }
        return (target, "")
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", contentType)], body: Array(text.utf8))
    }

    public static func json(_ status: Int, _ json: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", "application/json")], body: Array(json.utf8))
    }
}

/// Serves plain HTTP requests. `respond` may be called from any thread, exactly once.
public protocol HTTPRequestHandler: Sendable {
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void)
}
