import BrokerCore

/// One result table row: a figure, the SPEC §9 *must* and the aim beside it, and the verdict.
public struct GateRow: Sendable {
    public enum Verdict: String, Sendable {
        /// Inside the must and the aim.
        case pass = "ok"
        /// Inside the must, outside the aim: reported, not a failure.
        case aimMissed = "aim missed"
        /// The must is crossed: the harness exits 1.
        case fail = "FAIL"
        /// Informational figure without a bound.
        case info = "-"

        /// The verdict from two checks: the must (fatal) and the aim.
        public static func judged(must: Bool, aim: Bool) -> Verdict { !must ? .fail : aim ? .pass : .aimMissed }
    }

    public let name: String
    public let figure: String
    public let must: String
    public let aim: String
    public let verdict: Verdict

    public init(_ name: String, _ figure: String, must: String = "-", aim: String = "-", verdict: Verdict) {
        self.name = name
        self.figure = figure
        self.must = must
        self.aim = aim
        self.verdict = verdict
    }
}

/// A harness's result: table rows plus raw numbers for `--json`. Prints as an aligned text
/// table, Markdown rows (ci/measure-nfr.sh stitches several tools into one table) or JSON.
public struct GateReport {
    public enum Format { case text, markdown, json }

    public let tool: String
    public private(set) var rows: [GateRow] = []
    /// Notes printed under the text table (and in JSON), e.g. how the run was pinned.
    public private(set) var notes: [String] = []
    private var metrics: [(String, Double)] = []

    public init(tool: String) { self.tool = tool }

    public mutating func add(_ row: GateRow) { rows.append(row) }
    public mutating func note(_ text: String) { notes.append(text) }
    public mutating func metric(_ key: String, _ value: Double) { metrics.append((key, value)) }
    public mutating func metric(_ key: String, _ value: Int) { metrics.append((key, Double(value))) }

    public var failed: Bool { rows.contains { $0.verdict == .fail } }

    public var exitCode: Int32 {
        failed ? HarnessCommandLine.Exit.gateFailure.rawValue : HarnessCommandLine.Exit.pass.rawValue
    }

    /// Prints in `format` and exits with the verdict.
    public func finish(_ format: Format) -> Never {
        switch format {
        case .text: Console.out(text)
        case .markdown:
            rows.forEach { Console.out(SecretMarker.redacted(Self.markdownRow($0))) }
            notes.forEach { Console.out(SecretMarker.redacted("- \(tool): \($0)")) }
        case .json: Console.out(json)
        }
        Console.exit(exitCode)
    }

    public static let header = ["gate", "measured", "must", "aim", "verdict"]

    public static func markdownRow(_ row: GateRow) -> String {
        "| " + [row.name, row.figure, row.must, row.aim, row.verdict.rawValue].joined(separator: " | ") + " |"
    }

    public var text: String {
        let cells = [Self.header] + rows.map { [$0.name, $0.figure, $0.must, $0.aim, $0.verdict.rawValue] }
        var widths = Array(repeating: 0, count: Self.header.count)
        for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var out = "\(tool): \(failed ? "FAIL" : "pass")\n"
        for row in cells {
            let padded = row.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }
            out += "  " + padded.joined(separator: "  ") + "\n"
        }
        for note in notes { out += "  note: \(note)\n" }
        return SecretMarker.redacted(out)
    }

    public var json: String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("tool", tool)
        writer.field("pass", !failed)
        writer.key("metrics")
        writer.beginObject()
        for (key, value) in metrics {
            writer.key(key)
            if value == value.rounded(), abs(value) < 1e15 { writer.int(Int64(value)) } else { writer.double(value) }
        }
        writer.endObject()
        writer.key("rows")
        writer.beginArray()
        for row in rows {
            writer.beginObject()
            writer.field("gate", row.name)
            writer.field("measured", row.figure)
            writer.field("must", row.must)
            writer.field("aim", row.aim)
            writer.field("verdict", row.verdict.rawValue)
            writer.endObject()
        }
        writer.endArray()
        writer.key("notes")
        writer.beginArray()
        notes.forEach { writer.string($0) }
        writer.endArray()
        writer.endObject()
        return SecretMarker.redacted(String(decoding: writer.bytes, as: UTF8.self))
    }
}
