import EtcdServer
import Foundation
import Logging

/// swetcd: started like `etcd`, with etcd's flags, `ETCD_*` environment variables, and JSON log
/// lines on stderr.



func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("swetcd: \(message)\n".utf8))
    exit(code)
}

/// As Go programs (and so etcd) do since Go 1.19: the open-files limit goes up to the hard limit,
/// so thousands of client connections are accepted rather than refused at the soft default (1024).
func raiseOpenFilesLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
raiseOpenFilesLimit()

var arguments = Array(CommandLine.arguments.dropFirst())
if let first = arguments.first, first == "gateway" || first == "grpc-proxy" {
    fail("'\(first)' is not supported by swetcd")
}
if let first = arguments.first, first == "snapshot" || first == "migrate" {
    Subcommands.run(arguments)
}

let parser = Flags.parser()
var options = Options()
let parsed: (set: Set<String>, rest: [String])
do {
    parsed = try parser.parse(arguments, into: &options)
} catch {
    fail("\(error)")
}
if let extra = parsed.rest.first {
    fail("'\(extra)' is not a valid flag")
}
if options.showHelp {
    print("Usage:\n\n  swetcd [flags]\n    Start an etcd-compatible server.\n\n  swetcd --version\n    Show the version.\n\nFlags (as etcd's):")
    for name in parser.order {
        print("  --\(name)\n      \(parser.flags[name]!.help)")
    }
    exit(0)
}
if options.showVersion {
    print("etcd Version: \(EtcdVersion.server)")
    print("swetcd Version: \(EtcdVersion.swetcd)")
    print("Git SHA: swetcd")
    print("Go Version: none (Swift)")
    print("Go OS/Arch: linux/amd64")
    exit(0)
}
var warnings: [String] = []
do {
    if let path = options.configFile {
        // As in etcd: a configuration file replaces flags and environment variables.
        var fromFile = Options()
        try ConfigFile.load(path: path, parser: parser, into: &fromFile)
        options = fromFile
    } else {
        warnings = try parser.applyEnvironment(ProcessInfo.processInfo.environment, skipping: parsed.set, into: &options)
    }
    try options.finish()
} catch {
    fail("\(error)")
}
if !options.advertiseClientURLsSet && options.listenClientURLsSet {
    // etcd requires --advertise-client-urls when --listen-client-urls is set; it is what
    // `member list` shows. Default to the listen URLs rather than refusing to start.
    options.config.advertiseClientURLs = options.config.listenClientURLs.map(\.description)
}

let level = JSONLogHandler.level(fromEtcd: options.config.logLevel)
let logDescriptor: Int32 = options.logToStdout ? 1 : 2
LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, fileDescriptor: logDescriptor) }
let logger = Logger(label: "swetcd")
for warning in warnings + options.startupWarnings { logger.warning("\(warning)") }

do {
    try ConfigValidation.validate(options.config)
} catch {
    fail("\(error)")
}

let server = EtcdServer(config: options.config, logger: logger)
// A member removed from the cluster stops and exits 0, as etcd does (off the event loops: stopping
// waits for them).
server.onRemovedFromCluster = {
    DispatchQueue.global().async {
        server.stop()
        exit(0)
    }
}
do {
    try server.start()
} catch {
    logger.critical("failed to start", metadata: ["error": "\(error)"])
    exit(1)
}

// SIGTERM / SIGINT: stop serving, finish the batch in progress, close storage.
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let signalQueue = DispatchQueue(label: "signals")
var sources: [DispatchSourceSignal] = []
for sig in [SIGTERM, SIGINT] {
    let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
    source.setEventHandler {
        logger.info("received signal; shutting down", metadata: ["signal": "\(sig == SIGTERM ? "terminated" : "interrupt")"])
        server.stop()
        exit(0)
    }
    source.resume()
    sources.append(source)
}
dispatchMain()
