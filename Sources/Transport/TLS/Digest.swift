internal import COpenSSL

/// Hashes from OpenSSL's libcrypto (this module is the only one that links OpenSSL).
public enum Digest {
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { src in _ = SHA1(src.baseAddress, src.count, &out) }
        return out
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { src in _ = SHA256(src.baseAddress, src.count, &out) }
        return out
    }
}
