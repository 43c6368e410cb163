internal import COpenSSL
import Glibc

/// One OpenSSL `SSL_CTX` built from a `TLSConfiguration`: certificate chain, private key,
/// trusted CAs, client verification, ALPN (h2, http/1.1) and cipher suites.
///
/// Ownership: the context pointer is created in `init` and freed in `deinit`. `SSL_CTX` is
/// reference-counted by OpenSSL and safe to share between threads once configured; every
/// connection's `SSL` takes its own reference through `SSL_new`.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    public let configuration: TLSConfiguration
    /// Which end of the handshake connections made with this context take.
    public let role: Role

    public enum Role: Sendable, Equatable {
        /// Accepts connections: presents the certificate, verifies clients as configured.
        case server
        /// Dials out (a member's peer client): presents the certificate as its client
        /// certificate and verifies the server's against the trusted CA (and, unless
        /// `skipServerVerification`, the dialed host), as Go's TLS client does for etcd.
        case client(skipServerVerification: Bool)
    }

    public init(_ configuration: TLSConfiguration, role: Role = .server) throws(TLSError) {
        self.configuration = configuration
        self.role = role
        guard let ctx = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw .configuration("SSL_CTX_new failed: \(TLSContext.drainErrors())")
        }
        context = ctx
        _ = COpenSSL_SSL_CTX_set_min_proto_version(ctx, configuration.minVersion.rawValue)
        if let max = configuration.maxVersion { _ = COpenSSL_SSL_CTX_set_max_proto_version(ctx, max.rawValue) }
        _ = COpenSSL_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        guard SSL_CTX_use_certificate_chain_file(ctx, configuration.certificateFile) == 1 else {
            throw .configuration("cannot load certificate \(configuration.certificateFile): \(TLSContext.drainErrors())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, configuration.keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw .configuration("cannot load key \(configuration.keyFile): \(TLSContext.drainErrors())")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw .configuration("private key does not match the certificate: \(TLSContext.drainErrors())")
        }
        if let ca = configuration.trustedCAFile, !ca.isEmpty {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                throw .configuration("cannot load trusted CA \(ca): \(TLSContext.drainErrors())")
            }
            if let list = SSL_load_client_CA_file(ca) { SSL_CTX_set_client_CA_list(ctx, list) }
        }
        switch role {
        case .server:
            if configuration.requiresClientCertificate {
                COpenSSL_SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
            } else {
                COpenSSL_SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE)
            }
        case .client(let skip):
            if !skip && (configuration.trustedCAFile ?? "").isEmpty {
                // Go verifies a server against the system roots when no CA file is given.
                _ = SSL_CTX_set_default_verify_paths(ctx)
            }
            COpenSSL_SSL_CTX_set_verify(ctx, skip ? SSL_VERIFY_NONE : SSL_VERIFY_PEER)
        }
        if role == .server, let cn = configuration.allowedCommonName, !cn.isEmpty {
            allowedCommonName = strdup(cn)
            COpenSSL_SSL_CTX_set_allowed_cn(ctx, allowedCommonName)
        }
        if role == .server, let host = configuration.allowedHostname, !host.isEmpty {
            // Checked by OpenSSL while it verifies the client's chain: a mismatch fails the
            // handshake as a bad certificate, as etcd's VerifyPeerCertificate does.
            let param = SSL_CTX_get0_param(ctx)
            X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
            let isIP = host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
            let rc = isIP ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)
            guard rc == 1 else { throw .configuration("cannot require client host name \(host): \(TLSContext.drainErrors())") }
        }
        if let crl = configuration.crlFile, !crl.isEmpty {
            let store = SSL_CTX_get_cert_store(ctx)
            // etcd (Go's x509.ParseCRL) takes PEM or DER; so do we.
            guard let lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file()),
                X509_load_crl_file(lookup, crl, X509_FILETYPE_PEM) >= 1
                    || X509_load_crl_file(lookup, crl, X509_FILETYPE_ASN1) >= 1
            else {
                throw .configuration("cannot load CRL \(crl): \(TLSContext.drainErrors())")
            }
            ERR_clear_error()
            X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
        }
        if !configuration.cipherSuites.isEmpty {
            var names: [String] = []
            for suite in configuration.cipherSuites {
                guard let name = GoCipherSuites.openSSLName(suite) else { throw .unknownCipherSuite(suite) }
                names.append(name)
            }
            guard SSL_CTX_set_cipher_list(ctx, names.joined(separator: ":")) == 1 else {
                throw .configuration("cannot set cipher suites: \(TLSContext.drainErrors())")
            }
            // Go applies --cipher-suites to TLS 1.2 only and keeps TLS 1.3's fixed set.
        }
        if role == .server { COpenSSL_install_alpn(ctx) }
    }

    deinit {
        SSL_CTX_free(context)
        free(allowedCommonName)
    }

    /// The C string the verify callback compares client certificates' CN with (owned here,
    /// freed after the context).
    private var allowedCommonName: UnsafeMutablePointer<CChar>?

    /// Empties this thread's OpenSSL error queue into one line.
    static func drainErrors() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "unknown error" : parts.joined(separator: "; ")
    }
}

/// Go's TLS 1.2 cipher-suite names (what etcd's --cipher-suites takes) in OpenSSL's spelling.
enum GoCipherSuites {
    static let table: [String: String] = [
        "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
        "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    ]

    static func openSSLName(_ goName: String) -> String? { table[goName] }
}
