/// Scripted scenarios: a small text format of commands with the expected trace below each block.
///
/// ```
/// # Comments start with '#'.
/// add-nodes 3
/// campaign 1
/// ----
/// <the trace those commands produce, or "ok" when they print nothing>
///
/// stabilize
/// ----
/// ...
/// ```
///
/// A block is one or more command lines (see `Command`), a line `----`, then the expected output
/// up to a blank line. Running a scenario checks every block's output and all safety properties;
/// `rewrite` regenerates the expected outputs.
public struct Scenario {
    public struct Block {
        public var comments: [String]
        public var commands: [String]
        public var expected: [String]
        /// Line number of the first command (1-based), for error messages.
        public var line: Int
    }

    public var blocks: [Block]

    public struct Mismatch: CustomStringConvertible {
        public var line: Int
        public var commands: [String]
        public var expected: [String]
        public var actual: [String]
        public var description: String {
            "at line \(line) (\(commands.joined(separator: "; "))):\n--- expected\n" + expected.joined(separator: "\n")
                + "\n--- actual\n" + actual.joined(separator: "\n")
        }
    }

    public init(parsing text: String) throws(Command.ParseError) {
        blocks = []
        var comments: [String] = []
        var commands: [String] = []
        var expected: [String] = []
        var firstLine = 0
        var inOutput = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (n, raw) in lines.enumerated() {
            let line = raw.trimmingTrailingSpaces
            if inOutput {
                if line.isEmpty {
                    blocks.append(Block(comments: comments, commands: commands, expected: expected, line: firstLine))
                    comments = []; commands = []; expected = []
                    inOutput = false
                } else {
                    expected.append(line)
                }
                continue
            }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                comments.append(line)
            } else if line == "----" {
                guard !commands.isEmpty else { throw Command.ParseError(line: line, reason: "'----' without commands at line \(n + 1)") }
                inOutput = true
            } else {
                _ = try Command.parse(line)
                if commands.isEmpty { firstLine = n + 1 }
                commands.append(line)
            }
        }
        if inOutput || !commands.isEmpty {
            blocks.append(Block(comments: comments, commands: commands, expected: expected, line: firstLine))
        }
    }

    /// Runs every block on a fresh cluster. Returns the mismatches and the text with the actual
    /// outputs (for rewriting).
    public func run() -> (mismatches: [Mismatch], rewritten: String) {
        let cluster = Cluster(trace: true)
        var mismatches: [Mismatch] = []
        var out: [String] = []
        for block in blocks {
            var actual: [String] = []
            for line in block.commands {
                do {
                    try cluster.execute(Command.parse(line))
                } catch let v as Violation {
                    actual += cluster.takeTrace()
                    actual.append("VIOLATION \(v)")
                    continue
                } catch {
                    actual.append("ERROR \(error)")
                }
                actual += cluster.takeTrace()
            }
            if actual.isEmpty { actual = ["ok"] }
            if actual != block.expected {
                mismatches.append(Mismatch(line: block.line, commands: block.commands, expected: block.expected, actual: actual))
            }
            out += block.comments
            out += block.commands
            out.append("----")
            out += actual
            out.append("")
        }
        return (mismatches, out.joined(separator: "\n"))
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
