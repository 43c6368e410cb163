#if canImport(Glibc)
import Glibc
#endif
import EtcdProto
import Raft
import RaftSimulation

// raft-sim: the stand-alone runner of Raft's simulation harness.
//
//   raft-sim run [--from S] [--seeds N] [--steps K] [--seconds T] [--no-liveness]
//       Random simulations of seeds S, S+1, …: N of them, or as many as fit in T seconds.
//       On a failure: the seed, the violation, and the shrunk trace as a scenario.
//   raft-sim seed N [--steps K] [--trace]    One seed; --trace prints every command's effects.
//   raft-sim scenario FILE [--rewrite]       Runs a scenario file (rewrites expected outputs).
//   raft-sim bench [--proposals N] [--batch B] [--size BYTES]
//       Proposals committed per second in an in-process 3-member group.

/// The seed being simulated, for the crash handler (a Raft precondition failure traps).
nonisolated(unsafe) var currentSeed: UInt64 = 0
nonisolated(unsafe) var crashMessage = [CChar](repeating: 0, count: 128)

func installCrashHandler() {
    for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGABRT, SIGBUS] {
        signal(sig) { sig in
            crashMessage.withUnsafeBufferPointer { buf in
                _ = write(2, buf.baseAddress, strlen(buf.baseAddress!))
            }
            signal(sig, SIG_DFL)
            raise(sig)
        }
    }
}

func setCrashSeed(_ seed: UInt64) {
    currentSeed = seed
    let text = "\nraft-sim: crashed (a Raft precondition?) while simulating seed \(seed); replay with: raft-sim seed \(seed) --trace\n"
    let bytes = Array(text.utf8.prefix(crashMessage.count - 1))
    for i in 0..<crashMessage.count { crashMessage[i] = i < bytes.count ? CChar(bitPattern: bytes[i]) : 0 }
}

struct Arguments {
    var words: [String]
    func value(_ flag: String) -> String? {
        guard let i = words.firstIndex(of: flag), i + 1 < words.count else { return nil }
        return words[i + 1]
    }
    func has(_ flag: String) -> Bool { words.contains(flag) }
    func int(_ flag: String, _ fallback: Int) -> Int { value(flag).flatMap { Int($0) } ?? fallback }
}

func report(_ failure: Simulator.Failure) {
    print("FAILURE \(failure)")
    fflush(nil)
    if args.has("--no-shrink") { return }
    print("shrinking \(failure.trace.count) commands…")
    let shrunk = Simulator.shrink(failure.trace, kind: failure.violation.kind)
    let (violation, _, cluster) = Simulator.replay(shrunk, traceOutput: true)
    print("shrunk to \(shrunk.count) commands; replay ends with: \(violation.map(String.init(describing:)) ?? "no violation (flaky shrink)")")
    print("--- scenario (paste into Tests/RaftTests/Scenarios/*.txt and run with --rewrite) ---")
    _ = cluster
    // Re-run block by block so each command's trace sits under it.
    let traced = Cluster(trace: true)
    for command in shrunk {
        print(command.description)
        print("----")
        do { try traced.execute(command) } catch { }
        let lines = traced.takeTrace()
        print(lines.isEmpty ? "ok" : lines.joined(separator: "\n"))
        print("")
    }
}

let args = Arguments(words: Array(CommandLine.arguments.dropFirst()))
installCrashHandler()

switch args.words.first {
case "run":
    let from = UInt64(args.value("--from") ?? "1") ?? 1
    let seeds = args.int("--seeds", Int.max)
    let steps = args.int("--steps", 3000)
    let seconds = args.int("--seconds", seeds == Int.max ? 60 : Int.max / 2)
    let liveness = !args.has("--no-liveness")
    let clock = ContinuousClock()
    let start = clock.now
    var ran = 0
    var seed = from
    var lastReport = start
    while ran < seeds && clock.now - start < .seconds(seconds) {
        setCrashSeed(seed)
        if let failure = Simulator(seed: seed, steps: steps).run(liveness: liveness) {
            report(failure)
            exit(1)
        }
        ran += 1
        seed += 1
        if clock.now - lastReport > .seconds(10) {
            lastReport = clock.now
            print("\(ran) seeds ok (last \(seed - 1)), \(clock.now - start)")
            fflush(nil)
        }
    }
    print("ok: \(ran) seeds (\(from)…\(seed - 1)) × \(steps) steps in \(clock.now - start)")

case "seed":
    guard let s = args.words.dropFirst().first, let seed = UInt64(s) else {
        print("usage: raft-sim seed N [--steps K] [--trace]")
        exit(2)
    }
    setCrashSeed(seed)
    let sim = Simulator(seed: seed, steps: args.int("--steps", 3000), trace: args.has("--trace"))
    let failure = sim.run(liveness: !args.has("--no-liveness"))
    if args.has("--trace") { sim.printTrace() }
    if let failure {
        report(failure)
        exit(1)
    }
    print("ok: seed \(seed): \(sim.summary)")

case "scenario":
    guard let path = args.words.dropFirst().first else {
        print("usage: raft-sim scenario FILE [--rewrite]")
        exit(2)
    }
    guard let text = readFile(path) else {
        print("cannot read \(path)")
        exit(2)
    }
    do {
        let scenario = try Scenario(parsing: text)
        let (mismatches, rewritten) = scenario.run()
        if args.has("--rewrite") {
            writeFile(path, rewritten)
            print("rewrote \(path)")
        } else if mismatches.isEmpty {
            print("ok: \(scenario.blocks.count) blocks")
        } else {
            for m in mismatches { print(m) }
            exit(1)
        }
    } catch {
        print("\(error)")
        exit(2)
    }

case "bench":
    let result = RaftBenchmark.run(
        proposals: args.int("--proposals", 2_000_000), batch: args.int("--batch", 256), payloadBytes: args.int("--size", 128))
    print(result)

default:
    print("usage: raft-sim run|seed|scenario|bench … (see Sources/raft-sim/Runner/main.swift)")
    exit(2)
}

func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes += buf[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func writeFile(_ path: String, _ text: String) {
    guard let f = fopen(path, "w") else { return }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    _ = fwrite(bytes, 1, bytes.count, f)
}
