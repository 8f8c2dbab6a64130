import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// SPEC §11 against the real binary: the chain across restarts, rotation and SIGKILL, the
/// head in the state dir and on stderr, and `audit --verify`'s verdicts.
@Suite struct AuditChainIntegrationTests {
    static func verify(_ broker: BrokerProcess, _ files: [String] = []) throws -> CLIRun {
        try runCLI(["audit", "--verify", "--state-dir", broker.stateDir, "--audit-log", broker.auditLogPath] + files)
    }

    static func gets(_ broker: BrokerProcess, _ count: Int) throws {
        let project = try broker.connect(project: "chained")
        for _ in 0..<count { _ = try project.request(op: "get", [("name", "a")]) }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func bytes(_ path: String) -> [UInt8] { (try? FileSystem.readFile(path, maxBytes: 64 << 20)) ?? [] }

    @Test func restartsAndRotationKeepOneChainAndTheHeadIsRecorded() throws {
        let broker = try Broker.withProject("chained", secrets: ["a"], values: [("a", secret("a"))])
        try Self.gets(broker, 5)
        _ = try broker.stop()
        let head = try #require(AuditChainHead.read(broker.stateDir + "/audit.head"))
        #expect(broker.stderrText.contains("remo-broker: audit head seq=\(head.seq) sha256=\(head.digest.hex)\n"))
        let first = try Self.verify(broker)
        #expect(first.exitCode == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout == "PASS: \(head.seq) lines, seq 1..\(head.seq), head \(head.digest.hex)\n")

        // Restart: the numbers go on.
        try broker.start()
        try Self.gets(broker, 3)
        // Rotation by rename while serving: the next event recreates the file, still chained.
        let rotated = broker.auditLogPath + ".1"
        #expect(rename(broker.auditLogPath, rotated) == 0)
        try Self.gets(broker, 4)
        _ = broker.waitForAudit { AuditFile.events($0).filter { $0 == "fetch" }.count == 4 }
        _ = try broker.stop()

        let end = try #require(AuditChainHead.read(broker.stateDir + "/audit.head"))
        let both = try Self.verify(broker, [rotated, broker.auditLogPath])
        #expect(both.exitCode == 0, "\(both.stdout)")
        #expect(both.stdout == "PASS: \(end.seq) lines, seq 1..\(end.seq), head \(end.digest.hex)\n")
        // Alone, the current file starts mid-chain and still passes; alone, the rotated one
        // is not the current log, so no head applies to it.
        #expect(try Self.verify(broker).exitCode == 0)
        #expect(try Self.verify(broker, [rotated]).exitCode == 0)
        // The wrong order fails.
        #expect(try Self.verify(broker, [broker.auditLogPath, rotated]).exitCode == 1)
    }

    @Test func aLineTornBySIGKILLIsReportedNotFailed() throws {
        let broker = try Broker.withProject("chained", secrets: ["a"], values: [("a", secret("a"))])
        try Self.gets(broker, 3)
        _ = broker.waitForAudit { AuditFile.events($0).filter { $0 == "fetch" }.count == 3 }
        _ = try broker.stop(signal: SIGKILL)
        // What a kill inside write(2) leaves: the front of the next link, no newline.
        var log = Self.bytes(broker.auditLogPath)
        let lineCount = log.filter { $0 == 0x0A }.count
        log += Array("{\"seq\":\(lineCount + 1),\"prev\":\"0123".utf8)
        Self.writeFile(broker.auditLogPath, log)

        try broker.start()
        try Self.gets(broker, 2)
        _ = try broker.stop()
        let result = try Self.verify(broker)
        #expect(result.exitCode == 0, "\(result.stdout)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("PASS: ") == true)
        #expect(lines.dropFirst() == ["torn: \(broker.auditLogPath): line \(lineCount + 1)"])
    }

    @Test func verifyNamesTheTampering() throws {
        let broker = try Broker.withProject("chained", secrets: ["a"], values: [("a", secret("a"))])
        try Self.gets(broker, 4)
        _ = try broker.stop()
        let original = Self.bytes(broker.auditLogPath)
        var lines = original.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { Array($0) }
        let fetchIndex = try #require(lines.firstIndex { String(decoding: $0, as: UTF8.self).contains("\"event\":\"fetch\"") })

        // An allow turned into a deny.
        var edited = lines
        edited[fetchIndex] = Array(String(decoding: lines[fetchIndex], as: UTF8.self).replacing("\"allow\"", with: "\"deny\"").utf8)
        Self.writeFile(broker.auditLogPath, Array(edited.joined(separator: [0x0A])) + [0x0A])
        let edit = try Self.verify(broker)
        #expect(edit.exitCode == 1)
        #expect(edit.stdout.hasPrefix("FAIL: \(broker.auditLogPath): line \(fetchIndex + 1) (seq \(fetchIndex + 1)): edited"), "\(edit.stdout)")

        // The last two lines cut off: only the head can tell.
        lines.removeLast(2)
        Self.writeFile(broker.auditLogPath, Array(lines.joined(separator: [0x0A])) + [0x0A])
        let cut = try Self.verify(broker)
        #expect(cut.exitCode == 1)
        #expect(cut.stdout.contains("(seq \(lines.count)): truncated"), "\(cut.stdout)")

        // A foreign line appended.
        Self.writeFile(broker.auditLogPath, original + Array("{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"fetch\"}\n".utf8))
        let foreign = try Self.verify(broker)
        #expect(foreign.exitCode == 1)
        #expect(foreign.stdout.contains("(seq -): foreign"), "\(foreign.stdout)")
    }
}
