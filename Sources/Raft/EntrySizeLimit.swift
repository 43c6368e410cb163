import EtcdProto

/// Size limits over runs of entries, shared by the log, the storage and message building.
enum EntrySizeLimit {
    /// No limit.
    static let unlimited = UInt64.max

    /// How many entries from the front of `entries` fit in `maxSizeBytes` of encoded size. Always
    /// at least one when `entries` is not empty, so a single oversized entry still moves.
    @inlinable
    static func prefixCount(_ entries: ArraySlice<Entry>, maxSizeBytes: UInt64) -> Int {
        if entries.isEmpty { return 0 }
        if maxSizeBytes == unlimited { return entries.count }
        var size = UInt64(entries[entries.startIndex].encodedSize)
        var count = 1
        var i = entries.startIndex + 1
        while i < entries.endIndex {
            size += UInt64(entries[i].encodedSize)
            if size > maxSizeBytes { break }
            count += 1
            i += 1
        }
        return count
    }

    /// The payload bytes of entries (data only), which `maxUncommittedEntriesBytes` bounds.
    @inlinable
    static func payloadBytes(_ entries: some Sequence<Entry>) -> UInt64 {
        var total: UInt64 = 0
        for e in entries { total += UInt64(e.data.count) }
        return total
    }
}
