internal import COpenSSL
import Foundation

/// `--auto-tls` / `--peer-auto-tls`: a self-signed certificate for the listen hosts, kept in
/// `<data-dir>/fixtures/{client,peer}/{cert.pem,key.pem}` and reused on restart, as etcd does
/// (`transport.SelfCert`): an EC P-256 key, valid for one year, with the hosts as SANs.
public enum SelfSignedCertificate {
    public static let validitySeconds = 365 * 24 * 3600

    /// Returns (certificate file, key file), creating them when absent.
    public static func ensure(directory: String, hosts: [String]) throws(TLSError) -> (String, String) {
        let certPath = directory + "/cert.pem"
        let keyPath = directory + "/key.pem"
        let fm = FileManager.default
        if fm.fileExists(atPath: certPath) && fm.fileExists(atPath: keyPath) {
            return (certPath, keyPath)
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .configuration("cannot create \(directory): \(error)")
        }
        guard let key = COpenSSL_generate_p256_key() else { throw .configuration("key generation failed: \(TLSContext.drainErrors())") }
        defer { EVP_PKEY_free(key) }
        guard let cert = X509_new() else { throw .configuration("X509_new failed") }
        defer { X509_free(cert) }
        X509_set_version(cert, 2)
        var serial = [UInt8](repeating: 0, count: 16)
        RAND_bytes(&serial, Int32(serial.count))
        serial[0] &= 0x7f
        let bn = BN_bin2bn(serial, Int32(serial.count), nil)
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))
        BN_free(bn)
        X509_gmtime_adj(X509_getm_notBefore(cert), 0)
        X509_gmtime_adj(X509_getm_notAfter(cert), validitySeconds)
        X509_set_pubkey(cert, key)
        let name = X509_get_subject_name(cert)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, Array("etcd".utf8), -1, -1, 0)
        X509_set_issuer_name(cert, name)

        var sans: [String] = []
        for host in Set(hosts) {
            if host.isEmpty { continue }
            let isIP = host.allSatisfy { $0.isNumber || $0 == "." } || host.contains(":")
            sans.append(isIP ? "IP:\(host)" : "DNS:\(host)")
        }
        if sans.isEmpty { sans = ["DNS:localhost", "IP:127.0.0.1"] }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, cert, cert, nil, nil, 0)
        for (nid, value) in [(NID_subject_alt_name, sans.sorted().joined(separator: ",")),
                             (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
                             (NID_ext_key_usage, "serverAuth,clientAuth"),
                             (NID_basic_constraints, "critical,CA:FALSE")] {
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
                throw .configuration("bad certificate extension \(value): \(TLSContext.drainErrors())")
            }
            X509_add_ext(cert, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(cert, key, EVP_sha256()) > 0 else { throw .configuration("signing failed: \(TLSContext.drainErrors())") }

        guard let keyBIO = BIO_new_file(keyPath, "w") else { throw .configuration("cannot write \(keyPath)") }
        let keyOK = PEM_write_bio_PrivateKey(keyBIO, key, nil, nil, 0, nil, nil)
        BIO_free(keyBIO)
        chmod(keyPath, 0o600)
        guard let certBIO = BIO_new_file(certPath, "w") else { throw .configuration("cannot write \(certPath)") }
        let certOK = PEM_write_bio_X509(certBIO, cert)
        BIO_free(certBIO)
        guard keyOK == 1 && certOK == 1 else { throw .configuration("cannot write certificate files: \(TLSContext.drainErrors())") }
        return (certPath, keyPath)
    }
}
