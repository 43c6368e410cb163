import Foundation
import Logging

/// Writes one JSON object per line to stderr (or stdout), shaped like etcd 3.5's zap output:
/// `{"level":"info","ts":"2026-11-25T16:20:00.123Z","caller":"etcdserver/server.go:42","msg":"...", ...fields}`.
///
/// Lines are written with a single `write(2)` each, so lines from several threads never interleave.
/// etcd's e2e harness reads these lines through a pty and matches on substrings of `msg`.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String
    /// 2 (stderr, etcd's default) or 1 (`--log-outputs stdout`).
    let fileDescriptor: Int32

    init(label: String, level: Logger.Level, fileDescriptor: Int32 = 2) {
        self.label = label
        self.logLevel = level
        self.fileDescriptor = fileDescriptor
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "{\"level\":\""
        line += Self.levelName(event.level)
        line += "\",\"ts\":\""
        line += Self.timestamp()
        line += "\",\"caller\":\""
        line += Self.escape(Self.caller(file: event.file, line: event.line))
        line += "\",\"msg\":\""
        line += Self.escape(event.message.description)
        line += "\""
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() {
            line += ",\"" + Self.escape(key) + "\":"
            line += Self.json(merged[key]!)
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "debug"
        case .info, .notice: return "info"
        case .warning: return "warn"
        case .error: return "error"
        case .critical: return "fatal"
        }
    }

    static func level(fromEtcd name: String) -> Logger.Level {
        switch name {
        case "debug": return .debug
        case "warn": return .warning
        case "error": return .error
        case "panic", "fatal": return .critical
        default: return .info
        }
    }

    private static func caller(file: String, line: UInt) -> String {
        let parts = file.split(separator: "/")
        let tail = parts.suffix(2).joined(separator: "/")
        return "\(tail):\(line)"
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = Int(ts.tv_nsec) / 1_000_000
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s):
            // Numbers and booleans passed as strings stay strings: zap prints fields typed.
            return "\"" + escape(s) + "\""
        case .stringConvertible(let c):
            if let b = c as? Bool { return b ? "true" : "false" }
            if c is any BinaryInteger || c is Double { return "\(c)" }
            return "\"" + escape(c.description) + "\""
        case .array(let a):
            return "[" + a.map(json).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{" + d.keys.sorted().map { "\"" + escape($0) + "\":" + json(d[$0]!) }.joined(separator: ",") + "}"
        }
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
