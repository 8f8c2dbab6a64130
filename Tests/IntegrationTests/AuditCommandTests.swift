import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `remo-broker audit`: filters, --since, --json and damaged lines on a crafted log;
/// --tail across rotation on a crafted log and on a real broker's.
@Suite struct AuditCommandTests {
    /// A crafted log: one fetch an hour old, recent fetches for two projects, a non-fetch
    /// event, a foreign line holding a marker, and a torn last line (no newline).
    final class CraftedLog {
        let directory: TempDirectory
        let path: String
        let foreign = "not json at all " + Marker.make("foreign")
        let torn = "{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"fetch\",\"proj"
        let lines: [String]

        init() throws {
            directory = try TempDirectory(prefix: "rba")
            // Not named audit.log: it is a test input, and the leak gate scans every audit.log.
            path = directory.file("crafted-audit.jsonl")
            let now = WallClockTime.now()
            let old = WallClockTime(seconds: now.seconds - 3600).rfc3339Microseconds
            let new = WallClockTime(seconds: now.seconds - 5).rfc3339Microseconds
            lines = [
                Self.fetch(old, "alpha", "old_gh", "allow", "ok"),
                Self.fetch(new, "alpha", "gh", "allow", "ok"),
                Self.fetch(new, "alpha", "aws", "deny", "denied", reason: "not_in_allowlist"),
                Self.fetch(new, "beta", "npm", "allow", "not_found"),
                "{\"ts\":\"\(new)\",\"event\":\"secrets.pushed\",\"secret_count\":3,\"peer_uid\":0}",
                foreign,
            ]
            try directory.write("crafted-audit.jsonl", lines.joined(separator: "\n") + "\n" + torn, mode: 0o600)
        }

        static func fetch(_ ts: String, _ project: String, _ secret: String, _ decision: String, _ outcome: String,
                          reason: String? = nil) -> String {
            "{\"ts\":\"\(ts)\",\"event\":\"fetch\",\"project\":\"\(project)\",\"secret_name\":\"\(secret)\","
                + "\"decision\":\"\(decision)\",\"outcome\":\"\(outcome)\""
                + (reason.map { ",\"reason\":\"\($0)\"" } ?? "")
                + ",\"peer_pid\":4242,\"peer_uid\":1000,\"peer_gid\":1000,\"latency_us\":17}"
        }

        func audit(_ options: [String]) throws -> CLIRun {
            try runCLI(["audit", "--audit-log", path] + options)
        }
    }

    /// The SECRET column of each table row that has one (rows after the header).
    static func secrets(_ run: CLIRun) -> [String] {
        run.stdout.split(separator: "\n").dropFirst().compactMap { row in
            let columns = row.split(separator: " ", omittingEmptySubsequences: true)
            return columns.count > 3 && columns[1] == "fetch" ? String(columns[3]) : nil
        }
    }

    @Test func tableIsAlignedAndDamagedLinesAreShownAsSuch() throws {
        let log = try CraftedLog()
        let run = try log.audit([])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let rows = run.stdout.split(separator: "\n").map(String.init)
        let header = try #require(rows.first)
        for column in ["TIME", "EVENT", "PROJECT", "SECRET", "DECISION", "OUTCOME", "PEER UID/PID", "LATENCY"] {
            #expect(header.contains(column))
        }
        #expect(Self.secrets(run) == ["old_gh", "gh", "aws", "npm"])
        let denied = try #require(rows.first { $0.contains(" aws ") })
        for (column, value) in [("PROJECT", "alpha"), ("SECRET", "aws"), ("DECISION", "deny"), ("OUTCOME", "denied"),
                                ("PEER UID/PID", "1000/4242"), ("LATENCY", "17 µs")] {
            let start = try #require(header.firstRange(of: column)).lowerBound
            let offset = header.distance(from: header.startIndex, to: start)
            let cell = denied.dropFirst(offset).prefix(value.count)
            #expect(cell == value[...], "\(column) is not aligned in: \(denied)")
        }
        let pushed = try #require(rows.first { $0.contains("secrets.pushed") })
        #expect(pushed.contains(" 0 "), "peer uid of secrets.pushed: \(pushed)")
        // The foreign line and the torn last line: shown by length only, never echoed.
        #expect(rows.contains("(torn or foreign line, \(log.foreign.utf8.count) bytes)"), "\(run.stdout)")
        #expect(rows.last == "(torn or foreign line, \(log.torn.utf8.count) bytes)", "\(run.stdout)")
        #expect(!Marker.appears(in: run.output))
    }

    @Test func filtersByProjectAndDecision() throws {
        let log = try CraftedLog()
        let alpha = try log.audit(["--project", "alpha"])
        #expect(alpha.exitCode == 0)
        #expect(Self.secrets(alpha) == ["old_gh", "gh", "aws"])
        #expect(!alpha.stdout.contains("secrets.pushed"))

        let deny = try log.audit(["--decision", "deny"])
        #expect(Self.secrets(deny) == ["aws"])

        let betaAllow = try log.audit(["--project", "beta", "--decision", "allow"])
        #expect(Self.secrets(betaAllow) == ["npm"])
        let betaDeny = try log.audit(["--project", "beta", "--decision", "deny"])
        #expect(Self.secrets(betaDeny).isEmpty)
    }

    @Test func sinceTakesADurationOrAnRFC3339Time() throws {
        let log = try CraftedLog()
        let recent = try log.audit(["--since", "5m"])
        #expect(recent.exitCode == 0, "\(recent.stderr)")
        #expect(Self.secrets(recent) == ["gh", "aws", "npm"])
        #expect(recent.stdout.contains("secrets.pushed"))

        let twoHours = try log.audit(["--since", "2h"])
        #expect(Self.secrets(twoHours) == ["old_gh", "gh", "aws", "npm"])

        // Half an hour ago, written with a +02:00 offset.
        let halfHourAgo = WallClockTime(seconds: WallClockTime.now().seconds - 1800 + 7200)
        let local = String(halfHourAgo.rfc3339Seconds.dropLast()) + "+02:00"
        let absolute = try log.audit(["--since", local])
        #expect(absolute.exitCode == 0, "\(absolute.stderr)")
        #expect(Self.secrets(absolute) == ["gh", "aws", "npm"])

        for bad in ["yesterday", "5w", "-5m", "2026-02-30T00:00:00Z"] {
            let run = try log.audit(["--since", bad])
            #expect(run.exitCode == 64, "--since \(bad)")
        }
        #expect(try log.audit(["--decision", "maybe"]).exitCode == 64)
    }

    @Test func jsonPrintsTheRawLines() throws {
        let log = try CraftedLog()
        let all = try log.audit(["--json"])
        #expect(all.exitCode == 0)
        let expected = log.lines.dropLast() + [
            "{\"unparseable_line_bytes\":\(log.foreign.utf8.count)}",
            "{\"unparseable_line_bytes\":\(log.torn.utf8.count)}",
        ]
        #expect(all.stdout.split(separator: "\n").map(String.init) == Array(expected))
        #expect(!Marker.appears(in: all.output))

        let filtered = try log.audit(["--json", "--project", "beta"])
        #expect(filtered.stdout.split(separator: "\n").first.map(String.init) == log.lines[3])
    }

    @Test func aMissingLogIsAnError() throws {
        let directory = try TempDirectory(prefix: "rba")
        let run = try runCLI(["audit", "--audit-log", directory.file("none.log")])
        #expect(run.exitCode == 66)
        #expect(run.stderr.contains("none.log"))
    }

    @Test func tailFollowsACraftedLogAcrossRotationWithoutLosingLines() throws {
        let directory = try TempDirectory(prefix: "rba")
        let path = directory.file("audit.log")
        let ts = WallClockTime.now().rfc3339Microseconds
        func line(_ secret: String) -> String { CraftedLog.fetch(ts, "alpha", secret, "allow", "ok") }
        func append(_ text: String, to file: String = path) {
            let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o600)
            Array(text.utf8).withUnsafeBytes { Console.writeAll(fd, $0) }
            close(fd)
        }
        append(line("first") + "\n")
        let tail = try RunningTool(["audit", "--tail", "--json", "--audit-log", path], in: directory, name: "tail")
        #expect(eventually { tail.stdout.contains("\"first\"") }, "\(tail.stderr)")

        // A line written in two pieces is shown once, whole, not as a torn line.
        append(String(line("split").prefix(40)))
        usleep(600_000)
        append(String(line("split").dropFirst(40)) + "\n")
        #expect(eventually { tail.stdout.contains("\"split\"") })
        #expect(!tail.stdout.contains("unparseable"), "\(tail.stdout)")

        // Written just before the rename: must not be lost when the reader switches files.
        append(line("last_before_rotation") + "\n")
        #expect(rename(path, path + ".1") == 0)
        append(line("after_rotation") + "\n")
        #expect(eventually { tail.stdout.contains("\"after_rotation\"") }, "\(tail.stdout)")
        #expect(tail.stdout.contains("\"last_before_rotation\""), "lost a line written before the rotation")
        let order = tail.stdout.split(separator: "\n").compactMap { row in
            ["first", "split", "last_before_rotation", "after_rotation"].first { row.contains("\"\($0)\"") }
        }
        #expect(order == ["first", "split", "last_before_rotation", "after_rotation"])
        #expect(tail.stop(SIGTERM)?.signal == SIGTERM, "audit --tail did not end on SIGTERM")
    }

    @Test func tailFollowsTheBrokersLogAcrossRotation() throws {
        let broker = try BrokerProcess(binary: TestBinary.path)
        let directory = try TempDirectory(prefix: "rba")
        try broker.start()
        try broker.registerProject("tail-demo", secrets: ["before_rotation", "after_rotation"])
        // No --audit-log: the path comes from the running broker's status.
        let tail = try RunningTool(["audit", "--tail", "--project", "tail-demo", "--socket-dir", broker.socketDir],
                                   in: directory, name: "tail")
        func get(_ name: String) {
            _ = try? BrokerConnection(path: broker.projectSocket("tail-demo")).request(op: "get", [("name", name)])
        }
        get("before_rotation")
        #expect(eventually { tail.stdout.contains("before_rotation") }, "\(tail.stdout)\(tail.stderr)")

        #expect(rename(broker.auditLogPath, broker.auditLogPath + ".1") == 0)
        get("after_rotation")
        #expect(eventually { FileSystem.exists(broker.auditLogPath) }, "the broker did not recreate its log")
        #expect(eventually { tail.stdout.contains("after_rotation") }, "\(tail.stdout)\(tail.stderr)")
        let row = tail.stdout.split(separator: "\n").first { $0.contains("after_rotation") }.map(String.init) ?? ""
        #expect(row.contains("tail-demo") && row.contains("allow") && row.contains("not_found"), "\(row)")
        #expect(tail.stop(SIGTERM)?.signal == SIGTERM, "audit --tail did not end on SIGTERM")
    }
}
