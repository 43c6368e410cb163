import Foundation
import MVCC
import Storage

/// A real LMDB-backed store in a temporary directory, removed on deinit.
final class TestStore {
    let directory: String
    var environment: LMDBEnvironment!
    var store: MVCCStore!

    init() throws {
        directory = NSTemporaryDirectory() + "mvcc-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try open()
    }

    func open() throws {
        environment = try LMDBEnvironment(path: directory + "/db", mapSizeBytes: 64 << 20, maxReaders: 64, maxDatabases: 8)
        store = try MVCCStore(environment: environment)
    }

    /// Closes and reopens the same files, as a restart does.
    func reopen() throws {
        store = nil
        environment.close()
        environment = nil
        try open()
    }

    deinit {
        store = nil
        environment?.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// One request: everything in `body` shares one revision.
    @discardableResult
    func request<R>(_ body: (inout MVCCWriteTxn) throws -> R) throws -> R {
        try store.write { txn in
            txn.beginRequest()
            defer { txn.endRequest() }
            return try body(&txn)
        }
    }

    func put(_ key: String, _ value: String) throws {
        try request { try $0.put(key: Array(key.utf8), value: Array(value.utf8), lease: 0) }
    }

    func delete(_ key: String, _ end: String = "") throws -> Int {
        try request { try $0.deleteRange(KeyRange(key: Array(key.utf8), rangeEnd: Array(end.utf8))).count }
    }

    func range(_ key: String, _ end: String = "", rev: Int64 = 0, limit: Int = 0) throws -> RangeResult {
        try store.read { try $0.range(KeyRange(key: Array(key.utf8), rangeEnd: Array(end.utf8)), options: RangeOptions(limit: limit, revision: rev)) }
    }
}
