/// Anything that can answer a range: a read snapshot or the apply thread's write txn.
public protocol MVCCRangeable {
    func range(_ keys: KeyRange, options: RangeOptions) throws -> RangeResult
    /// The revision reads see (for a write txn: including its request's own changes).
    var rangeRevision: Int64 { get }
    /// Reads below this revision fail with `MVCCError.compacted`.
    var compactedRevision: Int64 { get }
}

extension MVCCReadView: MVCCRangeable {
    public var rangeRevision: Int64 { meta.currentRevision }
    public var compactedRevision: Int64 { meta.compactedRevision }
}

extension MVCCWriteTxn: MVCCRangeable {
    public var rangeRevision: Int64 { readRevision }
    public var compactedRevision: Int64 { meta.compactedRevision }
}
