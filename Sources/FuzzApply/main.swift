// libFuzzer target for the apply path: random log entries (`InternalRaftRequest` payloads, valid
// or not) applied to a fresh store exactly as the raft thread applies them. Nothing may trap;
// Tests/fuzz-apply.sh builds and runs it (same build flags as Sources/FuzzEtcdProto, whose top
// comment explains them). A plain build replays the files named on its command line;
// `FuzzApply --write-seeds DIR` writes a seed corpus of well-formed entries of every kind.
//
// Input format, a sequence of records (a short record ends the input):
//   kind (1 byte) · length (2 bytes, big-endian) · payload (length bytes)
//   kind % 4 == 0 or 3: payload is one log entry's data, added to the current batch
//   kind % 4 == 1:      the current batch ends (it is applied)
//   kind % 4 == 2:      payload's first 8 bytes (big-endian) are seconds the lease clock moves
//
// Each input runs twice, on two fresh stores: once in the batches it names, once one entry per
// batch. A replay or another member cuts the log into batches differently, so both runs must
// give every entry the same outcome and leave the same readable state (keys, revisions, hash,
// leases); any difference is a finding, like a trap.

import CFuzzerShim
@_spi(Fuzzing) import EtcdServer
import EtcdProto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

enum Step {
    case entry([UInt8])
    case endBatch
    case clock(Int64)
}

/// Entries per input at most (bounds the time one input takes).
let entriesMax = 64

func parse(_ input: UnsafeRawBufferPointer) -> [Step] {
    var steps: [Step] = []
    var at = 0
    var entries = 0
    while at + 3 <= input.count && entries < entriesMax {
        let kind = input[at]
        let length = Int(input[at + 1]) << 8 | Int(input[at + 2])
        at += 3
        let end = min(at + length, input.count)
        let payload = [UInt8](input[at..<end])
        at = end
        switch kind % 4 {
        case 1: steps.append(.endBatch)
        case 2:
            var seconds: UInt64 = 0
            for b in payload.prefix(8) { seconds = seconds << 8 | UInt64(b) }
            steps.append(.clock(Int64(bitPattern: seconds)))
        default:
            steps.append(.entry(payload))
            entries += 1
        }
    }
    return steps
}

let root: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return base + "/swetcd-fuzz-apply-\(getpid())"
}()
nonisolated(unsafe) var inputCounter = 0

/// Runs `steps` on a fresh store, batching as given (or one entry per batch), and returns every
/// outcome and the final observable state.
/// Two stores, opened once and emptied before every run (`ApplyHarness.reset`).
nonisolated(unsafe) var harnesses: [Bool: ApplyHarness] = [:]

func run(_ steps: [Step], splitEveryEntry: Bool) -> [String] {
    inputCounter += 1
    let harness: ApplyHarness
    do {
        if let open = harnesses[splitEveryEntry] {
            try open.reset()
            harness = open
        } else {
            harness = try ApplyHarness(directory: root + "/\(splitEveryEntry)")
            harnesses[splitEveryEntry] = harness
        }
    } catch {
        fatalError("cannot open or empty a store: \(error)")
    }
    var trace: [String] = []
    var batch: [[UInt8]] = []
    func flush() {
        guard !batch.isEmpty else { return }
        do {
            trace += try harness.apply(batch: batch)
        } catch {
            fatalError("the backend refused a batch: \(error)")
        }
        batch.removeAll()
    }
    for step in steps {
        switch step {
        case .entry(let data):
            batch.append(data)
            if splitEveryEntry { flush() }
        case .endBatch:
            flush()
        case .clock(let seconds):
            flush()
            trace.append("expired \(harness.advanceClock(seconds: seconds))")
        }
    }
    flush()
    do {
        trace.append(try harness.observable())
    } catch {
        fatalError("the store cannot be read back: \(error)")
    }
    return trace
}

func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let steps = parse(UnsafeRawBufferPointer(start: data, count: size))
    let batched = run(steps, splitEveryEntry: false)
    let single = run(steps, splitEveryEntry: true)
    if batched != single {
        fatalError("batching changed the outcome:\nbatched: \(batched)\nsingle:  \(single)")
    }
    return 0
}

// MARK: seeds

func record(_ kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
    [kind, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload
}

func entry(_ fill: (inout InternalRaftRequest) -> Void) -> [UInt8] {
    var r = InternalRaftRequest()
    fill(&r)
    return record(0, r.serializedBytes())
}

func seeds() -> [[UInt8]] {
    let k: [UInt8] = Array("k".utf8)
    let put = entry { $0.put = PutRequest(key: k, value: [1], lease: 0) }
    let leasedPut = entry { $0.put = PutRequest(key: Array("l".utf8), value: [2], lease: 7) }
    let grant = entry { $0.leaseGrant = LeaseGrantRequest(ttl: 5, id: 7) }
    let hugeGrant = entry { $0.leaseGrant = LeaseGrantRequest(ttl: 9_000_000_000, id: 8) }
    let revoke = entry { $0.leaseRevoke = LeaseRevokeRequest(id: 7) }
    let delete = entry { $0.deleteRange = DeleteRangeRequest(key: [0], rangeEnd: [0]) }
    let compact = entry { $0.compaction = CompactionRequest(revision: 2) }
    let txn = entry {
        var t = TxnRequest()
        t.compare = [Compare(key: k, target: .mod, result: .equal, .modRevision(0))]
        t.success = [RequestOp(.requestPut(PutRequest(key: Array("t".utf8), value: [3]))),
                     RequestOp(.requestRange(RangeRequest(key: [0], rangeEnd: [0], limit: Int64.max)))]
        t.failure = [RequestOp(.requestDeleteRange(DeleteRangeRequest(key: k)))]
        $0.txn = t
    }
    let alarm = entry { $0.alarm = AlarmRequest(action: .activate, memberID: 1, alarm: .noSpace) }
    let end = record(1, [])
    let tick = record(2, [0, 0, 0, 0, 0, 0, 0, 10])
    return [
        put, put + put + end + txn, grant + leasedPut + end + tick + revoke, grant + hugeGrant + leasedPut + tick,
        put + put + compact + end + compact, delete + put + txn, alarm + put + end + put, txn + txn + end + delete,
    ]
}

/// Without libFuzzer: runs each file named on the command line through `fuzzOneInput`.
func replay(_ paths: ArraySlice<String>) -> CInt {
    if paths.isEmpty {
        print("FuzzApply was built without libFuzzer: give files to replay, or build with Tests/fuzz-apply.sh")
        return 2
    }
    for path in paths {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            print("cannot open \(path)")
            return 1
        }
        _ = [UInt8](bytes).withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
        print("\(path): ok (\(bytes.count) bytes)")
    }
    return 0
}

let arguments = CommandLine.arguments
if arguments.count == 3 && arguments[1] == "--write-seeds" {
    try FileManager.default.createDirectory(atPath: arguments[2], withIntermediateDirectories: true)
    for (i, seed) in seeds().enumerated() {
        FileManager.default.createFile(atPath: arguments[2] + "/seed-\(i)", contents: Data(seed))
    }
    exit(0)
}
try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
let status = swetcd_fuzzer_run(CommandLine.argc, CommandLine.unsafeArgv) { data, size in fuzzOneInput(data, size) }
let code = status == -1 ? replay(arguments.dropFirst()) : status
for harness in harnesses.values { harness.close() }
try? FileManager.default.removeItem(atPath: root)
exit(code)
