import Testing
@testable import Storage

@Suite struct CRC32CTests {
    /// Bit-at-a-time reference: the definition, no tables.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    @Test func theCheckStringHasTheCatalogueValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func theEmptyInputChecksumsToZero() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    /// RFC 3720 (iSCSI) appendix B.4 test vectors.
    @Test func iscsiVectorsMatch() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func slicingMatchesTheBitwiseReferenceAtEveryLengthAndAlignment() {
        var rng = SplitMix64(seed: 0xC0FFEE)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for start in 0..<9 {
            for length in 0...(data.count - start - 9) where length < 80 || length % 37 == 0 {
                let slice = data[start..<(start + length)]
                #expect(CRC32C.checksum(slice) == Self.reference(Array(slice)), "start \(start) length \(length)")
            }
        }
    }

    @Test func updateContinuesAChecksumAcrossSplits() {
        let data = Array("The quick brown fox jumps over the lazy dog, twice over.".utf8)
        let whole = CRC32C.checksum(data)
        for split in 0...data.count {
            let first = CRC32C.checksum(data[..<split])
            let both = data[split...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(both == whole)
        }
    }
}

/// A tiny seeded generator for reproducible test data (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
