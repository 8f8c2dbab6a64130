@testable import BrokerCore
import Glibc
import Testing

/// SPEC §11: the chain the writer builds, and what `audit --verify` makes of every way a
/// file can be changed afterwards.
@Suite struct AuditChainTests {
    private typealias Support = AuditTestSupport

    /// `count` links, numbered from 1, as the writer stages them (lines without "\n").
    static func chainLines(_ count: Int, from head: AuditChainHead = .genesis) -> [[UInt8]] {
        var chain = AuditChain(head: head)
        var lines: [[UInt8]] = []
        for index in 0..<count {
            var buffer: [UInt8] = []
            chain.stage(Support.numberedFetch(index).encodedLine(at: WallClockTime(seconds: 1_800_000_000)), into: &buffer)
            chain.commit(1)
            lines.append(Array(buffer.dropLast()))
        }
        return lines
    }

    static func write(_ lines: [[UInt8]], to path: String, trailingNewline: Bool = true) {
        var bytes: [UInt8] = []
        for (index, line) in lines.enumerated() {
            bytes += line
            if index < lines.count - 1 || trailingNewline { bytes.append(0x0A) }
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func head(of lines: [[UInt8]], seq: UInt64) -> AuditChainHead {
        AuditChainHead(seq: seq, digest: lines[Int(seq) - 1].withUnsafeBytes { SHA256.digest($0) })
    }

    private func verify(_ lines: [[UInt8]], head: AuditChainHead? = nil) throws -> AuditChainVerifier.Report {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        Self.write(lines, to: path)
        return AuditChainVerifier.verify(files: [path], recordedHead: head)
    }

    private func expectFailure(_ report: AuditChainVerifier.Report, _ kind: AuditChainVerifier.Failure.Kind,
                               line: Int, seq: UInt64?, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(report.failure?.kind == kind, "\(report.lines)", sourceLocation: sourceLocation)
        #expect(report.failure?.line == line, "\(report.lines)", sourceLocation: sourceLocation)
        #expect(report.failure?.seq == seq, "\(report.lines)", sourceLocation: sourceLocation)
    }

    // MARK: the links

    @Test func linksCarrySeqAndPrevInFrontAndHashTheWholeLine() throws {
        let lines = Self.chainLines(3)
        for (index, line) in lines.enumerated() {
            let parsed = try AuditLine(line)
            #expect(parsed.keys.prefix(4) == ["seq", "prev", "ts", "event"])
            #expect(parsed.int("seq") == Int64(index + 1))
            let expected = index == 0 ? String(repeating: "0", count: 64) : SHA256.hexDigest(lines[index - 1])
            #expect(parsed.string("prev") == expected)
        }
    }

    @Test func headFileRoundTrips() {
        let head = AuditChainHead(seq: 42, digest: SHA256.digest(UnsafeRawBufferPointer(start: nil, count: 0)))
        #expect(String(decoding: head.fileContent, as: UTF8.self)
            == "{\"seq\":42,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n")
        #expect(AuditChainHead.parse(head.fileContent) == head)
        #expect(head.logLine == "remo-broker: audit head seq=42 sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(AuditChainHead.parse(Array("{\"seq\":1}".utf8)) == nil)
    }

    // MARK: verify: PASS

    @Test func anUntouchedChainPasses() throws {
        let lines = Self.chainLines(50)
        let report = try verify(lines, head: Self.head(of: lines, seq: 50))
        #expect(report.passed)
        #expect(report.lines == ["PASS: 50 lines, seq 1..50, head \(Self.head(of: lines, seq: 50).digest.hex)"])
    }

    @Test func aHeadOlderThanTheEndPasses() throws {
        let lines = Self.chainLines(50)
        #expect(try verify(lines, head: Self.head(of: lines, seq: 20)).passed)
    }

    @Test func rotatedFilesInOrderPassAndTheFirstMayStartMidChain() throws {
        let directory = try AuditTestDirectory()
        let lines = Self.chainLines(30)
        Self.write(Array(lines[5..<12]), to: directory.file("audit.log.2"))
        Self.write(Array(lines[12..<25]), to: directory.file("audit.log.1"))
        Self.write(Array(lines[25...]), to: directory.file("audit.log"))
        let files = ["audit.log.2", "audit.log.1", "audit.log"].map(directory.file)
        let report = AuditChainVerifier.verify(files: files, recordedHead: Self.head(of: lines, seq: 30))
        #expect(report.lines == ["PASS: 25 lines, seq 6..30, head \(Self.head(of: lines, seq: 30).digest.hex)"])

        // Out of order, the same files fail.
        let swapped = ["audit.log.1", "audit.log.2", "audit.log"].map(directory.file)
        #expect(!AuditChainVerifier.verify(files: swapped, recordedHead: nil).passed)
    }

    @Test func tornLinesAreReportedNotFailed() throws {
        let lines = Self.chainLines(10)
        var withTorn = Array(lines[0..<4])
        withTorn.append(Array(lines[4].prefix(40)))  // a crash inside a write, later closed
        withTorn += lines[4...]
        let report = try verify(withTorn)
        #expect(report.passed)
        #expect(report.torn.map { $0.line } == [5])
        #expect(report.lines.last?.hasSuffix("audit.log: line 5") == true)

        // A torn last line without its newline (the broker is down).
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        Self.write(lines + [Array(lines[0].prefix(30))], to: path, trailingNewline: false)
        let tail = AuditChainVerifier.verify(files: [path], recordedHead: nil)
        #expect(tail.passed && tail.torn.map { $0.line } == [11])
    }

    // MARK: verify: each FAIL kind

    @Test func anEditedLineFails() throws {
        var lines = Self.chainLines(10)
        // "project-a" -> "project-b" in link 4.
        let text = String(decoding: lines[3], as: UTF8.self)
        lines[3] = Array(text.replacing("project-a", with: "project-b").utf8)
        let report = try verify(lines)
        expectFailure(report, .edited, line: 4, seq: 4)
        #expect(report.lines.first?.hasPrefix("FAIL: ") == true)
        #expect(report.lines.first?.contains(": line 4 (seq 4): edited") == true)
    }

    @Test func anEditedLastLineFailsAgainstTheHead() throws {
        var lines = Self.chainLines(10)
        let head = Self.head(of: lines, seq: 10)
        lines[9] = Array(String(decoding: lines[9], as: UTF8.self).replacing("\"allow\"", with: "\"deny\"").utf8)
        #expect(try verify(lines).passed, "without the head an edited last line cannot be seen")
        let report = try verify(lines, head: head)
        #expect(report.failure?.kind == .edited)
        #expect(report.failure?.seq == 10)
    }

    @Test func anEditedPrevFieldFailsOnThatLine() throws {
        var lines = Self.chainLines(10)
        // Link 6's prev starts with a different digit: that line itself is named.
        let prefix = Array("{\"seq\":6,\"prev\":\"".utf8)
        #expect(Array(lines[5].prefix(prefix.count)) == prefix)
        lines[5][prefix.count] = lines[5][prefix.count] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let report = try verify(lines)
        #expect(report.failure?.kind == .edited)
        #expect(report.failure?.line == 6)
    }

    @Test func aRemovedLineFails() throws {
        var lines = Self.chainLines(10)
        lines.remove(at: 4)
        let report = try verify(lines)
        expectFailure(report, .removed, line: 5, seq: 6)
        #expect(report.failure?.detail == "seq 5 is missing before this line")
    }

    @Test func anInsertedCopyFails() throws {
        var lines = Self.chainLines(10)
        lines.insert(lines[2], at: 6)
        let report = try verify(lines)
        expectFailure(report, .inserted, line: 7, seq: 3)
    }

    @Test func anInsertedForgedLinkFails() throws {
        // A forger who recomputes the hash can make a line that links to line 4; the
        // original line 5 then repeats its seq, and the forged line is named.
        var lines = Self.chainLines(10)
        let forged = Self.chainLines(1, from: Self.head(of: lines, seq: 4))[0]
        lines.insert(forged, at: 4)
        let report = try verify(lines)
        #expect(report.failure?.kind == .inserted)
        #expect(report.failure?.line == 6 || report.failure?.line == 5)

        // A naive insertion (right seq, wrong prev) is named too.
        var naive = Self.chainLines(10)
        naive.insert(Self.chainLines(5)[4], at: 4)
        var tampered = naive
        tampered[4] = Array(String(decoding: naive[4], as: UTF8.self).replacing("project-a", with: "project-z").utf8)
        let second = try verify(tampered)
        #expect(second.failure?.kind == .inserted || second.failure?.kind == .edited)
    }

    @Test func reorderedLinesFail() throws {
        var lines = Self.chainLines(10)
        lines.swapAt(3, 4)
        let report = try verify(lines)
        expectFailure(report, .reordered, line: 4, seq: 5)
    }

    @Test func aForeignLineFails() throws {
        var lines = Self.chainLines(10)
        lines.insert(Array("{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"fetch\",\"project\":\"x\"}".utf8), at: 7)
        let report = try verify(lines)
        #expect(report.failure?.kind == .foreign)
        #expect(report.failure?.line == 8)
        #expect(report.lines.first?.contains("line 8 (seq -): foreign") == true)
    }

    @Test func aLogCutBeforeTheHeadFails() throws {
        let lines = Self.chainLines(10)
        let head = Self.head(of: lines, seq: 10)
        let report = try verify(Array(lines[0..<7]), head: head)
        #expect(report.failure?.kind == .truncated)
        #expect(report.failure?.line == 7)
        #expect(report.failure?.detail == "the log ends at seq 7, before the head recorded in audit.head (seq 10)")

        // Everything gone: an empty current log.
        let empty = try verify([], head: head)
        #expect(empty.failure?.kind == .truncated)
    }

    @Test func aMissingCurrentLogReadsAsEmptyOnlyWhenSaidSo() throws {
        let directory = try AuditTestDirectory()
        let lines = Self.chainLines(5)
        Self.write(lines, to: directory.file("audit.log.1"))
        let files = [directory.file("audit.log.1"), directory.file("audit.log")]
        let head = Self.head(of: lines, seq: 5)
        #expect(AuditChainVerifier.verify(files: files, recordedHead: head, missingAsEmpty: [directory.file("audit.log")]).passed)
        #expect(AuditChainVerifier.verify(files: files, recordedHead: head).failure?.kind == .unreadable)
    }

    @Test func anOverlongLineStopsTheCheckInsteadOfExhaustingMemory() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        Self.write(Self.chainLines(3) + [[UInt8](repeating: UInt8(ascii: "x"), count: 3 << 20)], to: path)
        let report = AuditChainVerifier.verify(files: [path], recordedHead: nil, maxLineBytes: 2 << 20)
        #expect(report.failure?.kind == .unreadable)
        #expect(report.failure?.detail == "cannot read (line 4 is longer than 2097152 bytes)")
        #expect(AuditChainVerifier.verify(files: [path], recordedHead: nil).torn.map { $0.line } == [4])
    }

    // MARK: the line syntax the verifier relies on

    @Test(arguments: [
        ("{}", true), ("{\"a\":[1,2.5e-3,true,false,null,{\"b\":\"\\u00e9\\n\"}]}", true),
        ("{\"a\":1", false), ("{\"a\":01}", false), ("{\"a\":\"x\u{01}\"}", false), ("{\"a\":1,}", false),
        ("{\"a\":\"\\x\"}", false), (" {}", false), ("{\"a\":1} {}", false), ("[1]", false), ("{\"é\":\"ü\"}", true),
    ])
    func recognisesCompleteObjects(_ text: String, _ expected: Bool) {
        var bytes = Array(text.utf8)
        #expect(bytes.withUnsafeMutableBytes { AuditLineSyntax.isObject(UnsafeRawBufferPointer($0)) } == expected)
        // Agreement with the strict reader.
        let strict = (try? JSONDocument(parsing: Array(text.utf8))).map { if case .object = $0.root { true } else { false } } ?? false
        #expect(strict == expected || text.hasPrefix(" "))
    }

    @Test func rejectsInvalidUTF8InStrings() {
        let bytes: [UInt8] = Array("{\"a\":\"".utf8) + [0xC0, 0x80] + Array("\"}".utf8)
        #expect(!bytes.withUnsafeBytes { AuditLineSyntax.isObject($0) })
    }

    // MARK: the writer keeps the chain

    /// One broker run: a log opened on `path`, events `range` recorded, closed (head written).
    private func run(_ path: String, headPath: String, _ range: Range<Int>) throws {
        let log = try AuditLog(path: path, headPath: headPath)
        for index in range { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 5)
    }

    private func verifyFiles(_ files: [String], headPath: String) -> AuditChainVerifier.Report {
        AuditChainVerifier.verify(files: files, recordedHead: AuditChainHead.read(headPath))
    }

    @Test func theHeadIsWrittenAtCloseAndTheChainContinuesAfterARestart() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), headPath = directory.file("audit.head")
        for run in 0..<3 {
            let log = try AuditLog(path: path, headPath: headPath)
            for index in 0..<20 { log.record(Support.numberedFetch(run * 20 + index)) }
            log.close(timeoutSeconds: 5)
            #expect(AuditChainHead.read(headPath)?.seq == UInt64(20 * (run + 1)))
        }
        let report = verifyFiles([path], headPath: headPath)
        #expect(report.passed, "\(report.lines)")
        #expect(report.links == 60 && report.firstSeq == 1 && report.lastSeq == 60)
        #expect(report.head == AuditChainHead.read(headPath)?.digest)
    }

    @Test func theHeadIsWrittenEveryNEvents() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), headPath = directory.file("audit.head")
        let log = try AuditLog(path: path, headPath: headPath, headEveryEvents: 10)
        for index in 0..<25 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { (AuditChainHead.read(headPath)?.seq ?? 0) >= 10 })
        log.close(timeoutSeconds: 5)
        #expect(AuditChainHead.read(headPath)?.seq == 25)
    }

    @Test func theChainContinuesAcrossCopytruncate() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), copy = directory.file("audit.log.1"), headPath = directory.file("audit.head")
        let log = try AuditLog(path: path, headPath: headPath)
        for index in 0..<30 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { Support.lines(of: path).count == 30 })
        // logrotate's copytruncate: copy, then truncate the file the broker keeps open.
        Self.write(Support.lines(of: path), to: copy)
        #expect(truncate(path, 0) == 0)
        for index in 30..<45 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { Support.lines(of: path).count == 15 })
        log.close(timeoutSeconds: 5)
        let report = verifyFiles([copy, path], headPath: headPath)
        #expect(report.passed && report.links == 45, "\(report.lines)")

        // Truncated again while stopped: the restart continues from audit.head.
        Self.write(Support.lines(of: path), to: directory.file("audit.log.0"))
        #expect(truncate(path, 0) == 0)
        try run(path, headPath: headPath, 45..<46)
        let all = verifyFiles([copy, directory.file("audit.log.0"), path], headPath: headPath)
        #expect(all.passed && all.lastSeq == 46, "\(all.lines)")
    }

    @Test func aMissingLogContinuesFromTheHead() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), rotated = directory.file("audit.log.1"), headPath = directory.file("audit.head")
        try run(path, headPath: headPath, 0..<10)
        #expect(rename(path, rotated) == 0)
        try run(path, headPath: headPath, 10..<11)
        let report = verifyFiles([rotated, path], headPath: headPath)
        #expect(report.passed && report.lastSeq == 11, "\(report.lines)")
    }

    @Test func aLogCutWhileStoppedKeepsTheGapVisible() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), headPath = directory.file("audit.head")
        try run(path, headPath: headPath, 0..<10)
        Self.write(Array(Support.lines(of: path).prefix(6)), to: path)
        #expect(verifyFiles([path], headPath: headPath).failure?.kind == .truncated)
        // A restart continues after the head, not after the cut: the hole stays.
        try run(path, headPath: headPath, 10..<11)
        let report = verifyFiles([path], headPath: headPath)
        #expect(report.failure?.kind == .removed, "\(report.lines)")
        #expect(report.failure?.seq == 11)
    }

    @Test func aTornLineFromAKillIsClosedAndReported() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log"), headPath = directory.file("audit.head")
        try run(path, headPath: headPath, 0..<5)
        // What a SIGKILL inside write(2) leaves: the front of a sixth link, no newline.
        var lines = Support.lines(of: path)
        lines.append(Array(Self.chainLines(6)[5].prefix(50)))
        Self.write(lines, to: path, trailingNewline: false)

        try run(path, headPath: headPath, 5..<8)
        let report = verifyFiles([path], headPath: headPath)
        #expect(report.passed, "\(report.lines)")
        #expect(report.lastSeq == 8 && report.links == 8)
        #expect(report.torn.map { $0.line } == [6])
    }

    @Test func degradedModeNumbersOnlyWhatWasWritten() throws {
        let directory = try AuditTestDirectory()
        let blocker = directory.file("logs")
        let path = blocker + "/audit.log", headPath = directory.file("audit.head")
        #expect(creat(blocker, 0o600) >= 0)
        let log = try AuditLog(path: path, queueCapacity: 8_192, memoryCapacity: 100, headPath: headPath)
        for index in 0..<300 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { log.snapshot.droppedEvents == 200 })
        #expect(unlink(blocker) == 0 && mkdir(blocker, 0o700) == 0)
        #expect(Support.eventually { !log.snapshot.degraded })
        log.close(timeoutSeconds: 5)
        let report = verifyFiles([path], headPath: headPath)
        // audit.degraded, the 100 kept events, audit.recovered: 102 links, no holes.
        #expect(report.passed && report.links == 102 && report.lastSeq == 102, "\(report.lines)")
    }
}
