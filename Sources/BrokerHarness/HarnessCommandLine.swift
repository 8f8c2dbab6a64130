import BrokerClient
import BrokerCore
import Glibc

/// What Soak, KillTest and LatencyBench share on the command line: `--help`, `--broker`,
/// `--json`, `--markdown`, `--best-effort`, number and duration options, and the exit codes
/// (0 pass, 1 a gate failed, 2 usage error).
public struct HarnessCommandLine {
    public enum Exit: Int32 { case pass = 0, gateFailure = 1, usage = 2 }

    public let tool: String
    public let arguments: Arguments

    public static let commonValued: Set<String> = ["broker"]
    public static let commonFlags: Set<String> = ["help", "json", "markdown", "best-effort"]

    /// Text for the common options, appended to each tool's `--help`.
    public static let commonHelp = """
          --broker PATH     remo-broker binary (default: $REMO_BROKER_BINARY, else dist/remo-broker,
                            else .build/debug/remo-broker)
          --best-effort     run the broker with --hardening best-effort (automatic when not root)
          --json            print the result as one JSON object
          --markdown        print the table's rows as Markdown, then the notes as "- " lines
                            (ci/measure-nfr.sh stitches the tools into one table)
          --help            this text
        Exit status: 0 every gate passed, 1 a gate failed, 2 usage error.
        """

    /// Parses the process arguments; prints `help` and exits 0 on `--help`, exits 2 on misuse.
    public init(tool: String, help: String, valued: Set<String> = [], flags: Set<String> = []) {
        self.tool = tool
        do {
            arguments = try Arguments(Array(CommandLine.arguments.dropFirst()),
                                      valued: valued.union(Self.commonValued), flags: flags.union(Self.commonFlags))
        } catch {
            Self.usageError(tool, error.message)
        }
        if arguments.has("help") {
            Console.out(help + "\n" + Self.commonHelp)
            Console.exit(0)
        }
        if let stray = arguments.positionals.first { Self.usageError(tool, "unexpected argument '\(stray)'") }
    }

    public static func usageError(_ tool: String, _ message: String) -> Never {
        Console.error("\(tool): \(message) (see --help)")
        Console.exit(Exit.usage.rawValue)
    }

    public func usageError(_ message: String) -> Never { Self.usageError(tool, message) }

    public var format: GateReport.Format {
        arguments.has("json") ? .json : arguments.has("markdown") ? .markdown : .text
    }

    /// The broker binary to run.
    public var brokerBinary: String {
        if let path = arguments.value("broker") ?? getenv("REMO_BROKER_BINARY").map({ String(cString: $0) }) {
            guard FileSystem.exists(path) else { usageError("no broker binary at \(path)") }
            return path
        }
        for candidate in ["dist/remo-broker", ".build/debug/remo-broker"] where FileSystem.exists(candidate) {
            return candidate
        }
        usageError("no broker binary found: build one (make release) or pass --broker PATH")
    }

    /// Extra `serve` options every harness passes: best-effort hardening when asked, or when
    /// not root (strict needs what only root has in a container: mlock limits, capabilities).
    public var hardeningArguments: [String] {
        arguments.has("best-effort") || geteuid() != 0 ? ["--hardening", "best-effort"] : []
    }

    /// An integer option within `range`.
    public func int(_ name: String, default fallback: Int, in range: ClosedRange<Int> = 1...Int.max) -> Int {
        guard let text = arguments.value(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            usageError(range.upperBound == Int.max ? "--\(name) needs an integer ≥ \(range.lowerBound)"
                                                   : "--\(name) needs an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A duration option: `90`, `90s`, `500ms`, `5m`, `1h`; returned in seconds.
    public func seconds(_ name: String, default fallback: Double) -> Double {
        guard let text = arguments.value(name) else { return fallback }
        guard let value = Self.parseDuration(text), value > 0 else {
            usageError("--\(name) needs a duration like 90s, 500ms, 5m or 1h")
        }
        return value
    }

    public static func parseDuration(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Double(text)
    }
}
