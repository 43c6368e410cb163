/// A min-heap of (deadline, lease ID): when to look at which lease next (etcd's
/// `LeaseExpiredNotifier`, `lease/lease_queue.go`).
///
/// Entries are hints, not the truth: `LeaseTable` keeps each lease's real expiry and remembers the
/// deadline of the one entry it owns (`LiveLease.scheduledNanoseconds`). A keep-alive only moves the
/// lease's expiry and leaves the heap alone, so renewing costs O(1); when the old entry comes due
/// the table sees the later expiry and pushes the lease again. Entries of revoked leases stay
/// until they come due or the table rebuilds the heap (`LeaseTable.staleEntriesMax`).
struct ExpirySchedule {
    struct Entry: Equatable {
        var deadlineNanoseconds: Int64
        var id: Int64
    }

    private var heap: [Entry] = []

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    /// The earliest entry, if any.
    var first: Entry? { heap.first }

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        siftUp(heap.count - 1)
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
        return top
    }

    /// Replaces every entry (heapify in O(n)).
    mutating func rebuild(_ entries: [Entry]) {
        heap = entries
        guard heap.count > 1 else { return }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    mutating func removeAll() { heap.removeAll() }

    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.deadlineNanoseconds < b.deadlineNanoseconds || (a.deadlineNanoseconds == b.deadlineNanoseconds && a.id < b.id)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { return }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && Self.less(heap[left + 1], heap[left]) { smallest = left + 1 }
            guard Self.less(heap[smallest], heap[i]) else { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
