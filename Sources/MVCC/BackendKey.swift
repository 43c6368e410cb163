import Crypto
import Storage

/// How a user key is stored as a key of the `hist` table (and as a value of the leases'
/// attachments table), so that keys of any length fit LMDB's 511-byte key limit while the table
/// keeps key order for ranges.
///
/// - A key of 1…`inlineBytesMax` (479) bytes is stored as it is.
/// - A longer key is stored *digested*: its first `inlineBytesMax` bytes, then the 32-byte
///   SHA-256 of the whole key (511 bytes). So every stored key longer than `inlineBytesMax` is a
///   digested one, and a stored key's length says which kind it is.
///
/// Order: stored keys sort as their user keys do, except among digested keys that share their
/// first `inlineBytesMax` bytes (they sort by digest). Those are always adjacent in the table
/// (no inline key but the shared prefix itself can start with it, and it sorts before them), so
/// a range reads such a group whole and orders it by the full keys, which every version's record
/// in the `rev` table holds (`RangeQuery`).
///
/// A digest names one key: two keys with the same digest would share a history, so every lookup
/// of a digested key checks the full key it finds, and a put that would collide is refused.
public enum BackendKey {
    static let digestBytes = 32
    /// The longest key stored as it is.
    public static let inlineBytesMax = LMDBEnvironment.maxKeyBytes - digestBytes

    /// The stored form of `key` (not empty).
    public static func encode(_ key: [UInt8]) -> [UInt8] {
        precondition(!key.isEmpty, "an empty key has no stored form")
        guard key.count > inlineBytesMax else { return key }
        return Array(key.prefix(inlineBytesMax)) + Array(SHA256.hash(data: key))
    }

    /// Whether a stored key is the digested form of a longer key.
    public static func isDigested(_ stored: UnsafeRawBufferPointer) -> Bool { stored.count > inlineBytesMax }
    public static func isDigested(_ stored: [UInt8]) -> Bool { stored.count > inlineBytesMax }
}
