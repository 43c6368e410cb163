/// Server TLS settings, named after etcd's flags (`--cert-file`, `--key-file`,
/// `--trusted-ca-file`, `--client-cert-auth`, `--client-crl-file`, `--cipher-suites`, and the
/// `--peer-*` set for the peer port).
public struct TLSConfiguration: Sendable, Equatable {
    /// Which listener this secures; named in the log line of a rejected handshake, as etcd's
    /// "rejected connection on client endpoint" / "... on peer endpoint".
    public enum Endpoint: String, Sendable, Equatable {
        case client
        case peer
    }

    public var endpoint: Endpoint = .client
    public var certificateFile: String
    public var keyFile: String
    public var trustedCAFile: String?
    /// Require and verify a client certificate signed by the trusted CA. As in etcd
    /// (`TLSInfo.ServerConfig`), a trusted CA file alone requires one too.
    public var clientCertAuth: Bool
    public var crlFile: String?
    /// Go cipher-suite names (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, ...), empty for defaults.
    public var cipherSuites: [String]
    /// Whether a client certificate is required and verified: `--client-cert-auth`, or a
    /// trusted CA file (etcd requires one whenever it has a CA to check it against).
    public var requiresClientCertificate: Bool { clientCertAuth || !(trustedCAFile ?? "").isEmpty }
    /// `--peer-cert-allowed-cn` / `--client-cert-allowed-cn`: the client certificate's CN must equal this.
    public var allowedCommonName: String?
    /// `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`: the client
    /// certificate must name this host (or IP) in its subject alternative names, as Go's
    /// `VerifyHostname` checks (the subject CN does not count).
    public var allowedHostname: String?
    /// `--tls-min-version` / `--tls-max-version` (nil: the newest OpenSSL offers).
    public var minVersion: TLSVersion = .tls12
    public var maxVersion: TLSVersion? = nil
    /// etcd's `checkSAN` on its peer listener: a client certificate with subject alternative
    /// names must name the address it connects from (`SubjectAltNames.check`). On for the peer
    /// port unless `--experimental-peer-skip-client-san-verification`; etcd's client port has no
    /// such check.
    public var verifiesClientSubjectAltNames = false

    public init(certificateFile: String, keyFile: String, trustedCAFile: String? = nil, clientCertAuth: Bool = false,
                crlFile: String? = nil, cipherSuites: [String] = [], allowedCommonName: String? = nil, allowedHostname: String? = nil,
                endpoint: Endpoint = .client) {
        self.endpoint = endpoint
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.trustedCAFile = trustedCAFile
        self.clientCertAuth = clientCertAuth
        self.crlFile = crlFile
        self.cipherSuites = cipherSuites
        self.allowedCommonName = allowedCommonName
        self.allowedHostname = allowedHostname
    }
}

/// Why TLS could not be set up (at start-up) or a handshake failed (per connection).
public enum TLSError: Error, Equatable, Sendable {
    case configuration(String)
    case handshake(String)
    case unknownCipherSuite(String)
}

/// The TLS versions etcd's `--tls-min-version` / `--tls-max-version` take.
public enum TLSVersion: Int32, Comparable, Sendable, CustomStringConvertible {
    case tls12 = 0x0303
    case tls13 = 0x0304

    /// "TLS1.2" / "TLS1.3", as etcd spells them.
    public init?(flag: String) {
        switch flag {
        case "TLS1.2": self = .tls12
        case "TLS1.3": self = .tls13
        default: return nil
        }
    }

    public var description: String { self == .tls12 ? "TLS1.2" : "TLS1.3" }

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.rawValue < b.rawValue }
}
