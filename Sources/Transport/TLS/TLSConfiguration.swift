/// Server TLS settings, named after etcd's flags (`--cert-file`, `--key-file`,
/// `--trusted-ca-file`, `--client-cert-auth`, `--client-crl-file`, `--cipher-suites`, and the
/// `--peer-*` set for the peer port).
public struct TLSConfiguration: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    public var trustedCAFile: String?
    /// Require and verify a client certificate signed by the trusted CA.
    public var clientCertAuth: Bool
    public var crlFile: String?
    /// Go cipher-suite names (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, ...), empty for defaults.
    public var cipherSuites: [String]
    /// `--peer-cert-allowed-cn` / `--client-cert-allowed-cn`: the client certificate's CN must equal this.
    public var allowedCommonName: String?
    /// `--peer-cert-allowed-hostname`: the client certificate must be valid for this host name.
    public var allowedHostname: String?

    public init(certificateFile: String, keyFile: String, trustedCAFile: String? = nil, clientCertAuth: Bool = false,
                crlFile: String? = nil, cipherSuites: [String] = [], allowedCommonName: String? = nil, allowedHostname: String? = nil) {
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
