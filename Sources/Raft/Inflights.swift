import EtcdProto

/// The flow-control window of one follower in replicate state: the last index of each append
/// message sent and not yet acknowledged, oldest first, at most `capacity` of them.
///
/// A ring buffer that grows up to `capacity` on demand, so idle followers cost little.
struct Inflights: Equatable {
    /// The largest number of messages in flight (`RaftConfig.maxInflightMessages`).
    let capacity: Int
    private var start = 0
    private(set) var count = 0
    private var buffer: [LogIndex] = []

    init(capacity: Int) {
        precondition(capacity > 0, "inflight capacity must be positive")
        self.capacity = capacity
    }

    var isFull: Bool { count == capacity }

    /// Records a message whose last entry is `index`; indexes must increase.
    mutating func add(_ index: LogIndex) {
        precondition(!isFull, "cannot add into a full inflights window")
        var slot = start + count
        if slot >= capacity { slot -= capacity }
        if slot >= buffer.count { grow() }
        buffer[slot] = index
        count += 1
    }

    private mutating func grow() {
        // Only ever called while the ring has not wrapped (start + count < buffer.count would not
        // need growing), so the contents stay in place.
        let newSize = Swift.min(Swift.max(buffer.count * 2, 1), capacity)
        buffer.append(contentsOf: repeatElement(LogIndex.zero, count: newSize - buffer.count))
    }

    /// Frees every message whose last index is at or below `index` (they were acknowledged).
    mutating func freeLE(_ index: LogIndex) {
        guard count > 0, index >= buffer[start] else { return }
        var slot = start
        var freed = 0
        while freed < count {
            if index < buffer[slot] { break }
            slot += 1
            if slot >= capacity { slot -= capacity }
            freed += 1
        }
        count -= freed
        start = count == 0 ? 0 : slot
    }

    /// Frees the oldest message (a heartbeat response proves the follower is alive, so let one
    /// more append through a full window).
    mutating func freeFirstOne() {
        guard count > 0 else { return }
        freeLE(buffer[start])
    }

    mutating func reset() {
        count = 0
        start = 0
    }
}
