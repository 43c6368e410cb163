import EtcdProto
import Foundation
import Testing
@testable import Storage

@Suite struct SnapshotStoreTests {
    static func snapshot(term: UInt64, index: UInt64, bytes: Int = 1000) -> Snapshot {
        Snapshot(
            data: (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(index)) },
            metadata: SnapshotMetadata(confState: ConfState(voters: [1, 2, 3], learners: [4]), index: index, term: term))
    }

    @Test func aSavedSnapshotLoadsBackAsTheNewest() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try SnapshotStore(directory: dir.appending("member/snap"))
        #expect(try store.loadNewest() == nil)
        try store.save(Self.snapshot(term: 1, index: 100))
        try store.save(Self.snapshot(term: 2, index: 250))
        try store.save(Self.snapshot(term: 1, index: 200))
        #expect(try store.loadNewest() == Self.snapshot(term: 2, index: 250))
        #expect(try store.list() == [WALSnapshotMarker(index: 250, term: 2), WALSnapshotMarker(index: 200, term: 1), WALSnapshotMarker(index: 100, term: 1)])
        let files = try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted()
        #expect(files == ["0000000000000001-0000000000000064.snap", "0000000000000001-00000000000000c8.snap", "0000000000000002-00000000000000fa.snap"])
        // Only snapshots the WAL knows about, when asked.
        #expect(try store.loadNewest { $0.index <= 200 } == Self.snapshot(term: 1, index: 200))
        try store.save(Snapshot())  // empty: not saved
        #expect(try store.list().count == 3)
    }

    @Test func theFileIsEtcdsSnappbFormatWithACastagnoliChecksum() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try SnapshotStore(directory: dir.path)
        let snap = Self.snapshot(term: 3, index: 9, bytes: 10)
        try store.save(snap)
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.appending(SnapshotStore.fileName(term: 3, index: 9)))))
        let data = snap.serializedBytes()
        var expected = ProtoWriter()
        expected.writeUInt64Always(1, UInt64(CRC32C.checksum(data)))
        expected.writeBytesAlways(2, data)
        #expect(file == expected.bytes)
        #expect(file[0] == 0x08)  // field 1, varint
    }

    @Test func corruptFilesAreSkippedAndSetAside() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try SnapshotStore(directory: dir.path)
        try store.save(Self.snapshot(term: 1, index: 10))
        try store.save(Self.snapshot(term: 1, index: 20))
        try store.save(Self.snapshot(term: 1, index: 30))
        try store.save(Self.snapshot(term: 1, index: 40))
        // 40: a flipped bit in the data; 30: cut short; 20: renamed to a name its content contradicts.
        let p40 = dir.appending(SnapshotStore.fileName(term: 1, index: 40))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: p40))
        bytes[bytes.count / 2] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: p40))
        let p30 = dir.appending(SnapshotStore.fileName(term: 1, index: 30))
        try Data(try Data(contentsOf: URL(fileURLWithPath: p30)).prefix(500)).write(to: URL(fileURLWithPath: p30))
        try FileManager.default.moveItem(atPath: dir.appending(SnapshotStore.fileName(term: 1, index: 20)), toPath: dir.appending(SnapshotStore.fileName(term: 1, index: 25)))
        var broken: [String] = []
        let loaded = try store.loadNewest(onBroken: { name, _ in broken.append(name) })
        #expect(loaded == Self.snapshot(term: 1, index: 10))
        #expect(broken == [SnapshotStore.fileName(term: 1, index: 40), SnapshotStore.fileName(term: 1, index: 30), SnapshotStore.fileName(term: 1, index: 25)])
        #expect(FileManager.default.fileExists(atPath: p40 + ".broken"))
        #expect(try store.list() == [WALSnapshotMarker(index: 10, term: 1)])
    }

    @Test func anInterruptedSaveLeavesNoVisibleSnapshotAndItsTemporaryFileIsRemoved() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var store = try SnapshotStore(directory: dir.path)
        try store.save(Self.snapshot(term: 1, index: 10))
        // A crash mid-save leaves only the temporary file, never a partial `.snap`.
        let temporary = dir.appending(SnapshotStore.fileName(term: 1, index: 20) + ".tmp")
        try Data([0x08, 0x01, 0x12]).write(to: URL(fileURLWithPath: temporary))
        #expect(try store.loadNewest() == Self.snapshot(term: 1, index: 10))
        store = try SnapshotStore(directory: dir.path)
        #expect(!FileManager.default.fileExists(atPath: temporary))
        // Saving over an existing name replaces it whole.
        try store.save(Self.snapshot(term: 1, index: 10, bytes: 5))
        #expect(try store.loadNewest() == Self.snapshot(term: 1, index: 10, bytes: 5))
    }

    @Test func pruneKeepsTheNewestFew() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let store = try SnapshotStore(directory: dir.path)
        for i in 1...8 as ClosedRange<UInt64> { try store.save(Self.snapshot(term: 1, index: i * 10, bytes: 10)) }
        try Data([1]).write(to: URL(fileURLWithPath: dir.appending("db")))
        let deleted = try store.prune()
        #expect(deleted == [30, 20, 10].map { SnapshotStore.fileName(term: 1, index: $0) })
        #expect(try store.list().map(\.index) == [80, 70, 60, 50, 40])
        #expect(FileManager.default.fileExists(atPath: dir.appending("db")))
        #expect(try store.prune(maxSnapshotsKept: 1).count == 4)
    }

    @Test func aDataDirectoryIsNewUntilItHasAWAL() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let dataDir = DataDirectory(path: dir.appending("data") + "/")
        #expect(dataDir.walDirectory == dir.appending("data/member/wal"))
        #expect(dataDir.backendPath == dir.appending("data/member/snap/db"))
        #expect(dataDir.isNew)
        try dataDir.createLayout()
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: dataDir.snapDirectory, isDirectory: &isDirectory) && isDirectory.boolValue)
        let mode = try FileManager.default.attributesOfItem(atPath: dataDir.memberDirectory)[.posixPermissions] as! Int
        #expect(mode == 0o700)
        #expect(dataDir.isNew)
        let log = try WriteAheadLog.create(directory: dataDir.walDirectory, metadata: [1], options: WALOptions(segmentBytes: 4096))
        try log.close()
        #expect(!dataDir.isNew)
        let env = try LMDBEnvironment(path: dataDir.backendPath, mapSizeBytes: 1 << 20)
        env.close()
        #expect(FileManager.default.fileExists(atPath: dataDir.backendPath))
    }
}
