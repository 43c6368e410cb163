import Foundation
import Testing
@testable import EtcdServer

/// `GoSort` against Go's own `sort.Sort`: golden vectors written by Go 1.24
/// (`Tests/tools/gosort-vectors.go`), inputs full of ties in shapes that reach every branch of
/// pdqsort (insertion sort, partial insertion sort, equal-partitioning, pattern breaking, the
/// decreasing-run reversal), ascending and through `sort.Reverse`. Each vector gives the order
/// in which Go leaves the input positions; ties make that order differ from any stable sort.
@Suite struct GoSortTests {
    struct Vector {
        let descending: Bool
        let values: [Int]
        let permutation: [Int]
    }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gosort-vectors.txt")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let halves = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let head = halves[0].split(separator: " ")
            let ints = { (s: Substring) in s.split(separator: ",").map { Int($0)! } }
            return Vector(descending: head[0] == "desc", values: ints(head[1]), permutation: ints(Substring(halves[1])))
        }
    }()

    @Test func theVectorsAreThere() {
        #expect(Self.vectors.count == 168)
    }

    @Test(arguments: 0..<168)
    func sortsAsGoSorts(_ index: Int) throws {
        try #require(index < Self.vectors.count)
        let v = Self.vectors[index]
        var items = v.values.enumerated().map { (value: $0.element, position: $0.offset) }
        let less: ((value: Int, position: Int), (value: Int, position: Int)) -> Bool = { ($0.value &- $1.value) < 0 }
        GoSort.sort(&items, less: v.descending ? { less($1, $0) } : less)
        #expect(items.map(\.position) == v.permutation, "n=\(v.values.count) \(v.descending ? "desc" : "asc")")
    }

    @Test func aStableSortWouldDifferOnSomeVectors() {
        // The vectors do test the tie order: for some of them Go's order is not key order.
        let unstable = Self.vectors.filter { v in
            let stable = v.values.enumerated().sorted { a, b in
                v.descending ? a.element > b.element : a.element < b.element
            }.map(\.offset)
            return stable != v.permutation
        }
        #expect(unstable.count > 20)
    }
}
