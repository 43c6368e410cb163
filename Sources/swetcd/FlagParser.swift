/// Command-line parsing with the rules of Go's `flag` package, which etcd uses: `-flag` and
/// `--flag` are the same; a value comes as `--flag=value` or as the next argument; a boolean flag
/// takes no next argument (`--flag` is true, `--flag=false` sets false); parsing stops at `--` or
/// at the first argument that is not a flag.
struct FlagParser {
    enum Kind {
        case boolean
        case value
    }

    struct Flag {
        var name: String
        var kind: Kind
        var help: String
        var apply: (inout Options, String) throws(FlagError) -> Void
    }

    struct FlagError: Error, CustomStringConvertible {
        var description: String
        init(_ text: String) { description = text }
    }

    private(set) var flags: [String: Flag] = [:]
    private(set) var order: [String] = []

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ apply: @escaping (inout Options, String) throws(FlagError) -> Void) {
        precondition(flags[name] == nil, "flag --\(name) defined twice")
        flags[name] = Flag(name: name, kind: kind, help: help, apply: apply)
        order.append(name)
    }

    /// Parses `arguments`; returns the names set and the arguments left after the flags.
    func parse(_ arguments: [String], into options: inout Options) throws(FlagError) -> (set: Set<String>, rest: [String]) {
        var set = Set<String>()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            if arg == "--" { return (set, Array(arguments[(i + 1)...])) }
            guard arg.hasPrefix("-"), arg.count > 1 else { return (set, Array(arguments[i...])) }
            var body = arg.dropFirst()
            if body.hasPrefix("-") { body = body.dropFirst() }
            guard !body.isEmpty, !body.hasPrefix("-"), !body.hasPrefix("=") else {
                throw FlagError("bad flag syntax: \(arg)")
            }
            var name = String(body)
            var value: String?
            if let eq = body.firstIndex(of: "=") {
                name = String(body[..<eq])
                value = String(body[body.index(after: eq)...])
            }
            guard let flag = flags[name] else {
                throw FlagError("flag provided but not defined: -\(name)")
            }
            switch flag.kind {
            case .boolean:
                let text = value ?? "true"
                guard Self.parseBool(text) != nil else {
                    throw FlagError("invalid boolean value \"\(text)\" for -\(name)")
                }
                try flag.apply(&options, text)
            case .value:
                if value == nil {
                    i += 1
                    guard i < arguments.count else { throw FlagError("flag needs an argument: -\(name)") }
                    value = arguments[i]
                }
                try flag.apply(&options, value!)
            }
            set.insert(name)
            i += 1
        }
        return (set, [])
    }

    /// Applies `ETCD_<NAME>` variables for flags not set on the command line (etcd's
    /// `flags.SetFlagsFromEnv`). Returns warnings for variables that name no flag.
    func applyEnvironment(_ environment: [String: String], skipping set: Set<String>, into options: inout Options) throws(FlagError) -> [String] {
        var warnings: [String] = []
        var known = Set<String>()
        for name in order {
            let key = "ETCD_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            known.insert(key)
            guard let value = environment[key] else { continue }
            if set.contains(name) {
                warnings.append("flag --\(name) shadows environment variable \(key)")
                continue
            }
            guard let flag = flags[name] else { continue }
            if flag.kind == .boolean, Self.parseBool(value) == nil {
                throw FlagError("invalid value \"\(value)\" for \(key): parse error")
            }
            try flag.apply(&options, value)
        }
        for key in environment.keys.sorted() where key.hasPrefix("ETCD_") && !known.contains(key) {
            if Self.ignoredEnvironment.contains(key) { continue }
            warnings.append("unrecognized environment variable \(key)")
        }
        return warnings
    }

    /// Variables etcd reads itself that are not flags.
    static let ignoredEnvironment: Set<String> = ["ETCD_UNSUPPORTED_ARCH", "ETCD_VERIFY"]

    /// Go's strconv.ParseBool.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
