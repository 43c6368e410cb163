/// Go's `sort.Sort` (pattern-defeating quicksort, as in Go 1.24), step for step.
///
/// etcd sorts a Range's results with `sort.Sort`, which is not stable: keys that compare equal
/// under the sort target (all the keys one txn created share a create revision) come out in
/// whatever order its partitioning leaves them. Clients see that order, so swetcd reproduces the
/// algorithm exactly — the same comparisons and swaps in the same sequence — rather than a stable
/// sort that would agree with etcd only below 13 elements (where Go uses insertion sort).
///
/// `less(a, b)` is etcd's `Less(i, j)` on the elements at i and j; a descending sort passes the
/// arguments swapped, as `sort.Reverse` does. Pure: no allocation besides the array's own.
struct GoSort<Element> {
    private var data: [Element]
    private let less: (Element, Element) -> Bool

    /// Sorts `array` as Go's `sort.Sort` sorts a slice with that `Less`.
    static func sort(_ array: inout [Element], less: @escaping (Element, Element) -> Bool) {
        let n = array.count
        if n <= 1 { return }
        var sorter = GoSort(data: array, less: less)
        array = []  // one owner of the buffer while sorting: swaps do not copy it
        sorter.pdqsort(0, n, limit: Self.bitLength(UInt(n)))
        array = sorter.data
    }

    private init(data: [Element], less: @escaping (Element, Element) -> Bool) {
        self.data = data
        self.less = less
    }

    /// Go's `bits.Len`: the number of bits needed to represent `x`.
    static func bitLength(_ x: UInt) -> Int { UInt.bitWidth - x.leadingZeroBitCount }

    private func lessAt(_ i: Int, _ j: Int) -> Bool { less(data[i], data[j]) }
    private mutating func swapAt(_ i: Int, _ j: Int) { data.swapAt(i, j) }

    private enum Hint { case unknown, increasing, decreasing }

    private mutating func insertionSort(_ a: Int, _ b: Int) {
        var i = a + 1
        while i < b {
            var j = i
            while j > a && lessAt(j, j - 1) {
                swapAt(j, j - 1)
                j -= 1
            }
            i += 1
        }
    }

    private mutating func siftDown(_ lo: Int, _ hi: Int, _ first: Int) {
        var root = lo
        while true {
            var child = 2 * root + 1
            if child >= hi { return }
            if child + 1 < hi && lessAt(first + child, first + child + 1) { child += 1 }
            if !lessAt(first + root, first + child) { return }
            swapAt(first + root, first + child)
            root = child
        }
    }

    private mutating func heapSort(_ a: Int, _ b: Int) {
        let first = a, hi = b - a
        var i = (hi - 1) / 2
        while i >= 0 {
            siftDown(i, hi, first)
            i -= 1
        }
        i = hi - 1
        while i >= 0 {
            swapAt(first, first + i)
            siftDown(0, i, first)
            i -= 1
        }
    }

    private mutating func pdqsort(_ a0: Int, _ b0: Int, limit limit0: Int) {
        let maxInsertion = 12
        var a = a0, b = b0, limit = limit0
        var wasBalanced = true, wasPartitioned = true
        while true {
            let length = b - a
            if length <= maxInsertion {
                insertionSort(a, b)
                return
            }
            if limit == 0 {
                heapSort(a, b)
                return
            }
            if !wasBalanced {
                breakPatterns(a, b)
                limit -= 1
            }
            var (pivot, hint) = choosePivot(a, b)
            if hint == .decreasing {
                reverseRange(a, b)
                pivot = (b - 1) - (pivot - a)
                hint = .increasing
            }
            if wasBalanced && wasPartitioned && hint == .increasing {
                if partialInsertionSort(a, b) { return }
            }
            if a > 0 && !lessAt(a - 1, pivot) {
                a = partitionEqual(a, b, pivot)
                continue
            }
            let (mid, alreadyPartitioned) = partition(a, b, pivot)
            wasPartitioned = alreadyPartitioned
            let leftLen = mid - a, rightLen = b - mid
            let balanceThreshold = length / 8
            if leftLen < rightLen {
                wasBalanced = leftLen >= balanceThreshold
                pdqsort(a, mid, limit: limit)
                a = mid + 1
            } else {
                wasBalanced = rightLen >= balanceThreshold
                pdqsort(mid + 1, b, limit: limit)
                b = mid
            }
        }
    }

    private mutating func partition(_ a: Int, _ b: Int, _ pivot: Int) -> (Int, Bool) {
        swapAt(a, pivot)
        var i = a + 1, j = b - 1
        while i <= j && lessAt(i, a) { i += 1 }
        while i <= j && !lessAt(j, a) { j -= 1 }
        if i > j {
            swapAt(j, a)
            return (j, true)
        }
        swapAt(i, j)
        i += 1
        j -= 1
        while true {
            while i <= j && lessAt(i, a) { i += 1 }
            while i <= j && !lessAt(j, a) { j -= 1 }
            if i > j { break }
            swapAt(i, j)
            i += 1
            j -= 1
        }
        swapAt(j, a)
        return (j, false)
    }

    private mutating func partitionEqual(_ a: Int, _ b: Int, _ pivot: Int) -> Int {
        swapAt(a, pivot)
        var i = a + 1, j = b - 1
        while true {
            while i <= j && !lessAt(a, i) { i += 1 }
            while i <= j && lessAt(a, j) { j -= 1 }
            if i > j { break }
            swapAt(i, j)
            i += 1
            j -= 1
        }
        return i
    }

    private mutating func partialInsertionSort(_ a: Int, _ b: Int) -> Bool {
        let maxSteps = 5, shortestShifting = 50
        var i = a + 1
        for _ in 0..<maxSteps {
            while i < b && !lessAt(i, i - 1) { i += 1 }
            if i == b { return true }
            if b - a < shortestShifting { return false }
            swapAt(i, i - 1)
            // Go shifts down to index 1, not a + 1; kept as it is (only the order matters).
            if i - a >= 2 {
                var j = i - 1
                while j >= 1 {
                    if !lessAt(j, j - 1) { break }
                    swapAt(j, j - 1)
                    j -= 1
                }
            }
            if b - i >= 2 {
                var j = i + 1
                while j < b {
                    if !lessAt(j, j - 1) { break }
                    swapAt(j, j - 1)
                    j += 1
                }
            }
        }
        return false
    }

    private mutating func breakPatterns(_ a: Int, _ b: Int) {
        let length = b - a
        guard length >= 8 else { return }
        // Go's xorshift(length) as Go 1.24 has it (Go 1.19's shifted by 17 and 5 instead of 7 and
        // 17); the etcd 3.5.16 compared against is built with Go 1.24.
        var random = UInt64(length)
        let modulus = UInt(1) << UInt(Self.bitLength(UInt(length)))
        var idx = a + (length / 4) * 2 - 1
        while idx <= a + (length / 4) * 2 + 1 {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            var other = Int(UInt(truncatingIfNeeded: random) & (modulus - 1))
            if other >= length { other -= length }
            swapAt(idx, a + other)
            idx += 1
        }
    }

    private mutating func choosePivot(_ a: Int, _ b: Int) -> (Int, Hint) {
        let shortestNinther = 50, maxSwaps = 4 * 3
        let l = b - a
        var swaps = 0
        var i = a + l / 4 * 1, j = a + l / 4 * 2, k = a + l / 4 * 3
        if l >= 8 {
            if l >= shortestNinther {
                i = medianAdjacent(i, &swaps)
                j = medianAdjacent(j, &swaps)
                k = medianAdjacent(k, &swaps)
            }
            j = median(i, j, k, &swaps)
        }
        switch swaps {
        case 0: return (j, .increasing)
        case maxSwaps: return (j, .decreasing)
        default: return (j, .unknown)
        }
    }

    private func order2(_ a: Int, _ b: Int, _ swaps: inout Int) -> (Int, Int) {
        if lessAt(b, a) {
            swaps += 1
            return (b, a)
        }
        return (a, b)
    }

    private func median(_ a0: Int, _ b0: Int, _ c0: Int, _ swaps: inout Int) -> Int {
        let (a, b) = order2(a0, b0, &swaps)
        let (b2, _) = order2(b, c0, &swaps)
        return order2(a, b2, &swaps).1
    }

    private func medianAdjacent(_ a: Int, _ swaps: inout Int) -> Int {
        median(a - 1, a, a + 1, &swaps)
    }

    private mutating func reverseRange(_ a: Int, _ b: Int) {
        var i = a, j = b - 1
        while i < j {
            swapAt(i, j)
            i += 1
            j -= 1
        }
    }
}
