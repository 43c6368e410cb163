import EtcdProto
import Foundation
import Testing
@testable import Storage

/// Write-ahead log: round trips, truncation semantics, torn tails, corruption, snapshots,
/// segment release, locking.
@Suite struct WALTests {
    static let smallSegmentBytes = 16 << 10
    static let metadata = [UInt8]("node=1;cluster=7")

    static func entry(_ index: UInt64, term: UInt64 = 1, bytes: Int = 300) -> Entry {
        Entry(term: term, index: index, data: (0..<bytes).map { UInt8(truncatingIfNeeded: Int(index) &* 31 &+ $0) })
    }

    static func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, bytes: Int = 300) -> [Entry] {
        range.map { entry($0, term: term, bytes: bytes) }
    }

    func walDirectory(_ dir: TemporaryDirectory) -> String { dir.appending("member/wal") }

    // MARK: format

    @Test func segmentNamesUseEtcdsHexLayout() {
        let name = WALSegmentName(sequence: 1, firstIndex: 0x21)
        #expect(name.fileName == "0000000000000001-0000000000000021.wal")
        #expect(WALSegmentName(fileName: name.fileName) == name)
        #expect(WALSegmentName(fileName: "0000000000000001-0000000000000021.wa") == nil)
        #expect(WALSegmentName(fileName: "000000000000000G-0000000000000021.wal") == nil)
        #expect(WALSegmentName(fileName: "0000000000000001_0000000000000021.wal") == nil)
        #expect(WALSegmentName(fileName: "ffffffffffffffff-ffffffffffffffff.wal") == WALSegmentName(sequence: .max, firstIndex: .max))
    }

    @Test func handEncodedRecordsMatchTheProtobufCodec() throws {
        let samples = [
            Entry(), Entry(term: 1, index: 1), Entry(term: .max, index: .max, type: .confChange, data: [1, 2, 3]),
            Entry(term: 5, index: 300, data: [UInt8](repeating: 9, count: 20_000)),
        ] + [{ var e = Entry(term: 2, index: 3); e.typeRaw = -1; return e }()]
        for sample in samples {
            var buffer = WALRecordBuffer(capacity: 16)
            buffer.reset(salt: 42, fileOffset: 64)
            buffer.appendEntry(sample)
            let expected = sample.serializedBytes()
            let length = Int(buffer.bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            #expect(length == 1 + expected.count)
            #expect(Array(buffer.bytes[9..<(8 + length)]) == expected)
            #expect(buffer.count % 8 == 0)
            // The record validates at its own offset with its own salt, and nowhere else.
            var image = [UInt8](repeating: 0, count: 64) + Array(buffer.bytes)
            image.withUnsafeBytes { raw in
                if case .success(let view) = WALScanner.record(at: 64, in: raw, salt: 42) {
                    #expect(view.type == .entry)
                    #expect(try! Entry(decoding: UnsafeRawBufferPointer(rebasing: raw[view.payload])) == sample)
                } else {
                    Issue.record("record did not validate")
                }
                #expect(throws: Never.self) { _ = try? WALScanner.record(at: 64, in: raw, salt: 43).get() }
                if case .success = WALScanner.record(at: 64, in: raw, salt: 43) { Issue.record("validated with another salt") }
            }
            image.removeFirst(8)
            image.withUnsafeBytes { raw in
                if case .success = WALScanner.record(at: 56, in: raw, salt: 42) { Issue.record("validated at another offset") }
            }
        }
        for state in [HardState(), HardState(term: 3, vote: 2, commit: 1), HardState(term: .max, vote: .max, commit: .max)] {
            var buffer = WALRecordBuffer(capacity: 16)
            buffer.reset(salt: 1, fileOffset: 0)
            buffer.appendHardState(state)
            let expected = state.serializedBytes()
            #expect(Array(buffer.bytes[9..<(9 + expected.count)]) == expected)
        }
    }

    // MARK: round trips

    @Test func entriesAndHardStatesRoundTripAcrossSeveralSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        var lastState = HardState()
        for batch in 0..<100 {
            let first = UInt64(batch * 10 + 1)
            lastState = HardState(term: 1, vote: 1, commit: first + 5)
            try log.append(entries: Self.entries(first...(first + 9)), hardState: lastState)
            try log.sync()
        }
        #expect(log.lastIndex == 1000)
        let names = log.segmentFileNames
        try log.close()
        #expect(names.count > 10)
        // Names: consecutive sequence numbers, first index = last index + 1 at the cut.
        for (i, fileName) in names.enumerated() {
            let name = try #require(WALSegmentName(fileName: fileName))
            #expect(name.sequence == UInt64(i))
            if i > 0 { #expect((name.firstIndex - 1) % 10 == 0) }
        }
        #expect(names[0] == "0000000000000000-0000000000000000.wal")

        var repairs: [WALRepair] = []
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes)) { repairs.append($0) }
        defer { try? reopened.close() }
        #expect(repairs.isEmpty)
        #expect(contents.metadata == Self.metadata)
        #expect(contents.hardState == lastState)
        #expect(contents.entries == Self.entries(1...1000))
        #expect(contents.lastSnapshot == nil)
        #expect(reopened.lastIndex == 1000)
        try reopened.append(entries: [Self.entry(1001)])
        try reopened.sync()
    }

    @Test func aBatchLargerThanASegmentIsWrittenWholeInAFreshSegment() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: 8192))
        try log.append(entries: Self.entries(1...2))
        try log.append(entries: Self.entries(3...100, bytes: 1000))  // ~100 KB
        try log.append(entries: Self.entries(101...102))
        try log.sync()
        try log.close()
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: 8192))
        try reopened.close()
        #expect(contents.entries.count == 102)
        #expect(contents.entries[50] == Self.entry(51, bytes: 1000))
    }

    @Test func rewrittenIndexesReplaceTheEarlierSuffix() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try log.append(entries: Self.entries(1...100, term: 1), hardState: HardState(term: 1, vote: 1, commit: 50))
        // A new leader overwrites 61... with term 2, in a later segment than the originals.
        try log.append(entries: Self.entries(61...70, term: 2), hardState: HardState(term: 2, vote: 3, commit: 60))
        #expect(log.lastIndex == 70)
        try log.append(entries: Self.entries(71...75, term: 2))
        // And again, inside the same batch region.
        try log.append(entries: Self.entries(74...80, term: 3))
        try log.sync()
        try log.close()
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try reopened.close()
        let expected = Self.entries(1...60, term: 1) + Self.entries(61...73, term: 2) + Self.entries(74...80, term: 3)
        #expect(contents.entries == expected)
        #expect(contents.hardState == HardState(term: 2, vote: 3, commit: 60))
    }

    // MARK: torn tails and corruption

    /// Builds a log whose last segment ends with one more entry, returning the directory's
    /// segment files and where that last record starts and ends.
    func logWithKnownLastRecord(_ dir: TemporaryDirectory) throws -> (walDir: String, lastSegment: String, start: Int, end: Int) {
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false))
        try log.append(entries: Self.entries(1...20, bytes: 100), hardState: HardState(term: 1, vote: 1, commit: 20))
        let start = log.offset
        try log.append(entries: [Self.entry(21, bytes: 301)])
        let end = log.offset
        let lastSegment = "\(walDir)/\(log.segment.fileName)"
        try log.sync()
        try log.close()
        return (walDir, lastSegment, start, end)
    }

    @Test(arguments: ["truncated", "zeroed"])
    func aTornLastRecordIsCutAtEveryByteOffsetAndTheLogAcceptsAppendsAfterwards(mode: String) throws {
        let source = TemporaryDirectory()
        defer { source.remove() }
        let (walDir, lastSegment, start, end) = try logWithKnownLastRecord(source)
        let original = try Data(contentsOf: URL(fileURLWithPath: lastSegment))
        let segmentName = (lastSegment as NSString).lastPathComponent
        #expect(Self.smallSegmentBytes >= original.count)
        let recordDataEnd = start + 8 + Int(original.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start, as: UInt32.self) })
        #expect(recordDataEnd < end)  // the test covers a cut in the padding too
        var repairedCount = 0
        for cut in start..<end {
            let copy = TemporaryDirectory("torn\(cut)")
            defer { copy.remove() }
            let copyWal = walDirectory(copy)
            try FileManager.default.createDirectory(atPath: copyWal, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: walDir) where file.hasSuffix(".wal") && file != segmentName {
                try FileManager.default.copyItem(atPath: "\(walDir)/\(file)", toPath: "\(copyWal)/\(file)")
            }
            var damaged = original
            if mode == "truncated" {
                damaged = damaged.prefix(cut)
            } else {
                damaged.replaceSubrange(cut..<end, with: Data(count: end - cut))
            }
            try damaged.write(to: URL(fileURLWithPath: "\(copyWal)/\(segmentName)"))

            var repairs: [WALRepair] = []
            let (log, contents) = try WriteAheadLog.open(directory: copyWal, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false)) {
                repairs.append($0)
            }
            // Everything before the torn record survives. The record itself survives only when just
            // its zero padding was lost; a cut exactly at its start leaves a clean log.
            let survives = cut >= recordDataEnd
            let tail = survives ? [Self.entry(21, bytes: 301)] : []
            #expect(contents.entries == Self.entries(1...20, bytes: 100) + tail, "cut at \(cut)")
            #expect(contents.hardState == HardState(term: 1, vote: 1, commit: 20))
            #expect(repairs.count == (cut == start || survives ? 0 : 1), "cut at \(cut)")
            repairedCount += repairs.count
            #expect(repairs.allSatisfy { $0.offset == start && $0.segment == segmentName })
            // The log takes appends at the cut and they survive a reopen.
            try log.append(entries: [Self.entry(21, term: 2)], hardState: HardState(term: 2, vote: 1, commit: 21))
            try log.sync()
            try log.close()
            let (again, reread) = try WriteAheadLog.open(directory: copyWal, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false)) { _ in
                Issue.record("second open should find a clean log (cut at \(cut))")
            }
            try again.close()
            #expect(reread.entries == Self.entries(1...20, bytes: 100) + [Self.entry(21, term: 2)], "cut at \(cut)")
            // The preallocation is back to its full size.
            let size = try FileManager.default.attributesOfItem(atPath: "\(copyWal)/\(segmentName)")[.size] as! Int
            #expect(size >= Self.smallSegmentBytes)
        }
        #expect(repairedCount == recordDataEnd - start - 1)
    }

    @Test func aFlippedBitInAMiddleRecordIsCorruptionNotATornTail() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, lastSegment, start, _) = try logWithKnownLastRecord(dir)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: lastSegment))
        // A byte inside an entry record well before the last one.
        let target = start - 150
        bytes[target] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: lastSegment))
        #expect {
            _ = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        } throws: { error in
            guard case .corrupt(let segment, let offset, _) = error as? WALError else { return false }
            return lastSegment.hasSuffix(segment) && offset < start && offset >= target - 200
        }
    }

    @Test func anyBadRecordInAnEarlierSegmentIsCorruption() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false))
        try log.append(entries: Self.entries(1...40))
        let firstSegment = "\(walDir)/\(log.segment.fileName)"
        let firstEnd = log.offset
        try log.append(entries: Self.entries(41...200))
        try log.sync()
        try log.close()
        // Damage the LAST record of the first segment: a torn tail would be cut, but this segment
        // was synced before the next was created, so it is corruption.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: firstSegment))
        bytes[firstEnd - 20] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: firstSegment))
        #expect {
            _ = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        } throws: { error in
            if case .corrupt(let segment, _, let reason) = error as? WALError {
                return firstSegment.hasSuffix(segment) && reason.contains("not the last segment")
            }
            return false
        }
    }

    @Test func aZeroPageBeforeLaterValidRecordsIsATornWriteFromAPowerLoss() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: 64 << 10, preallocateAhead: false))
        try log.append(entries: Self.entries(1...10))
        try log.sync()
        try log.append(entries: Self.entries(11...100))  // one unsynced batch spanning many pages
        let path = "\(walDir)/\(log.segment.fileName)"
        try log.close()
        // Page 2 never reached the disk; pages after it did.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes.replaceSubrange(8192..<12288, with: Data(count: 4096))
        try bytes.write(to: URL(fileURLWithPath: path))
        var repairs: [WALRepair] = []
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: 64 << 10)) { repairs.append($0) }
        try reopened.close()
        #expect(repairs.count == 1)
        #expect(repairs.first.map { $0.offset < 8192 && $0.offset > 8192 - 400 } == true)
        #expect(contents.entries.count >= 10 && contents.entries.count < 30)
        #expect(contents.entries == Self.entries(1...UInt64(contents.entries.count)))
    }

    @Test func aDamagedSegmentHeaderIsCorruptionEvenInTheLastSegment() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, lastSegment, _, _) = try logWithKnownLastRecord(dir)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: lastSegment))
        bytes[12] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: lastSegment))
        #expect(throws: WALError.self) { _ = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes)) }
    }

    @Test func aMissingSegmentInTheSequenceIsCorruption() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false))
        for first in stride(from: UInt64(1), through: 291, by: 10) { try log.append(entries: Self.entries(first...(first + 9))) }
        try log.sync()
        let names = log.segmentFileNames
        try log.close()
        try FileManager.default.removeItem(atPath: "\(walDir)/\(names[2])")
        #expect {
            _ = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        } throws: { error in
            if case .corrupt(_, _, let reason) = error as? WALError { return reason.contains("sequence gap") }
            return false
        }
    }

    // MARK: snapshots and release

    func appendInBatches(_ log: WriteAheadLog, _ range: ClosedRange<UInt64>, term: UInt64, hardState: HardState) throws {
        for first in stride(from: range.lowerBound, through: range.upperBound, by: 10) {
            try log.append(entries: Self.entries(first...min(first + 9, range.upperBound), term: term), hardState: hardState)
        }
    }

    /// 1...600 in many segments with a snapshot marker at 300 (term 1) and one at 500 (term 2).
    func logWithSnapshots(_ dir: TemporaryDirectory) throws -> (walDir: String, names: [String]) {
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try appendInBatches(log, 1...320, term: 1, hardState: HardState(term: 1, vote: 1, commit: 320))
        try log.saveSnapshotMarker(index: 300, term: 1)
        try appendInBatches(log, 321...450, term: 1, hardState: HardState(term: 1, vote: 1, commit: 450))
        try appendInBatches(log, 451...520, term: 2, hardState: HardState(term: 2, vote: 1, commit: 520))
        try log.saveSnapshotMarker(index: 500, term: 2)
        try appendInBatches(log, 521...600, term: 2, hardState: HardState(term: 2, vote: 1, commit: 590))
        try log.sync()
        let names = log.segmentFileNames
        try log.close()
        return (walDir, names)
    }

    @Test func openingFromASnapshotReturnsTheEntriesAfterItWithoutReadingOlderSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, names) = try logWithSnapshots(dir)
        #expect(names.count > 6)
        // Wreck every segment wholly before the one holding index 500: they must not be read.
        let keepFrom = names.lastIndex { WALSegmentName(fileName: $0)!.firstIndex <= 500 }!
        #expect(keepFrom > 2)
        for name in names[0..<keepFrom] {
            try Data(repeating: 0xEE, count: 4096).write(to: URL(fileURLWithPath: "\(walDir)/\(name)"))
        }
        let (log, contents) = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 500, term: 2), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        defer { try? log.close() }
        #expect(contents.entries == Self.entries(501...600, term: 2))
        #expect(contents.entriesFollow == WALSnapshotMarker(index: 500, term: 2))
        #expect(contents.lastSnapshot == WALSnapshotMarker(index: 500, term: 2))
        #expect(contents.hardState == HardState(term: 2, vote: 1, commit: 590))
        #expect(contents.metadata == Self.metadata)
        #expect(log.lastIndex == 600)
    }

    @Test func openingFromAnOlderSnapshotStillSeesTheNewerMarker() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, _) = try logWithSnapshots(dir)
        let (log, contents) = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 300, term: 1), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try log.close()
        #expect(contents.entries == Self.entries(301...450) + Self.entries(451...600, term: 2))
        #expect(contents.lastSnapshot == WALSnapshotMarker(index: 500, term: 2))
        let markers = try WriteAheadLog.readSnapshotMarkers(directory: walDir)
        #expect(markers.markers == [WALSnapshotMarker(index: 300, term: 1), WALSnapshotMarker(index: 500, term: 2)])
        #expect(markers.hardState == HardState(term: 2, vote: 1, commit: 590))
    }

    @Test func anUnknownOrMismatchedSnapshotIsAnError() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, _) = try logWithSnapshots(dir)
        #expect(throws: WALError.snapshotNotFound(index: 400, term: 1)) {
            _ = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 400, term: 1), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
        #expect(throws: WALError.snapshotMismatch(index: 500, expectedTerm: 3, foundTerm: 2)) {
            _ = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 500, term: 3), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
    }

    @Test func aSnapshotInstalledBeyondTheLogRestartsTheEntriesAfterIt() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try log.append(entries: Self.entries(1...10))
        try log.saveSnapshotMarker(index: 1000, term: 4)
        #expect(log.lastIndex == 1000)
        try log.append(entries: Self.entries(1001...1005, term: 4))
        try log.sync()
        try log.close()
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try reopened.close()
        #expect(contents.entriesFollow == WALSnapshotMarker(index: 1000, term: 4))
        #expect(contents.entries == Self.entries(1001...1005, term: 4))
    }

    @Test func releasingSegmentsDeletesOnlyThoseWhollyBeforeTheSnapshotBeyondTheKeptCount() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (walDir, names) = try logWithSnapshots(dir)
        let (log, _) = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 300, term: 1), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        let keepFrom = names.lastIndex { WALSegmentName(fileName: $0)!.firstIndex <= 500 }!
        // With the default of 5 kept, only the excess over 5 goes, and never past keepFrom.
        let deletedFirst = try log.releaseSegments(before: 500)
        #expect(deletedFirst == Array(names[0..<min(keepFrom, names.count - 5)]))
        let deletedRest = try log.releaseSegments(before: 500, maxSegmentsKept: 0)
        #expect(deletedFirst + deletedRest == Array(names[0..<keepFrom]))
        #expect(log.segmentFileNames == Array(names[keepFrom...]))
        #expect(try log.releaseSegments(before: 500, maxSegmentsKept: 0).isEmpty)
        try log.append(entries: [Self.entry(601, term: 2)])
        try log.sync()
        let current = log.segmentFileNames
        try log.close()
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: walDir).filter { $0.hasSuffix(".wal") }.sorted()
        #expect(onDisk == current)
        #expect(onDisk.first == names[keepFrom])
        let (reopened, contents) = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 500, term: 2), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try reopened.close()
        #expect(contents.entries == Self.entries(501...601, term: 2))
        // Opening from the older snapshot is no longer possible: its entries are gone.
        #expect(throws: WALError.self) {
            _ = try WriteAheadLog.open(directory: walDir, fromSnapshot: WALSnapshotMarker(index: 300, term: 1), options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
    }

    // MARK: lifecycle

    @Test func aSecondOpenOfTheSameDirectoryIsRefusedWhileTheFirstHoldsTheLock() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        #expect(throws: WALError.locked(path: "\(walDir)/lock")) {
            _ = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
        #expect(throws: WALError.locked(path: "\(walDir)/lock")) {
            _ = try WriteAheadLog.create(directory: walDir, metadata: [], options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
        try log.close()
        #expect(throws: WALError.alreadyExists(directory: walDir)) {
            _ = try WriteAheadLog.create(directory: walDir, metadata: [], options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        }
        let (reopened, _) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try reopened.close()
        #expect(throws: WALError.closed) { try reopened.append(entries: [Self.entry(1)]) }
    }

    @Test func openingAnEmptyOrMissingDirectoryIsNotFound() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        #expect(throws: WALError.notFound(directory: dir.path)) { _ = try WriteAheadLog.open(directory: dir.path) }
        #expect(throws: WALError.notFound(directory: dir.path + "/nope")) { _ = try WriteAheadLog.open(directory: dir.path + "/nope") }
        #expect(!WriteAheadLog.exists(directory: dir.path))
    }

    @Test func leftoverTemporaryFilesAreRemovedAtOpen() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let walDir = walDirectory(dir)
        let log = try WriteAheadLog.create(directory: walDir, metadata: Self.metadata, options: WALOptions(segmentBytes: Self.smallSegmentBytes))
        try log.close()
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(walDir)/7.tmp"))
        let (reopened, _) = try WriteAheadLog.open(directory: walDir, options: WALOptions(segmentBytes: Self.smallSegmentBytes, preallocateAhead: false))
        try reopened.close()
        #expect(!FileManager.default.fileExists(atPath: "\(walDir)/7.tmp"))
    }
}
