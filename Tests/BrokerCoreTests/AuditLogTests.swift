@testable import BrokerCore
import Glibc
import Testing

@Suite struct AuditLogTests {
    private typealias Support = AuditTestSupport

    /// The `latency_us` sequence numbers of the fetch lines, in file order.
    private func sequence(_ lines: [AuditLine]) -> [Int64] {
        lines.filter { $0.event == "fetch" }.compactMap { $0.int("latency_us") }
    }

    @Test func rejectsUnusableArguments() {
        #expect(throws: SystemError.self) { try AuditLog(path: "") }
        #expect(throws: SystemError.self) { try AuditLog(path: "relative/audit.log") }
        #expect(throws: SystemError.self) { try AuditLog(path: "/tmp/a\u{0}b") }
        #expect(throws: SystemError.self) { try AuditLog(path: "/tmp/x.log", queueCapacity: 0) }
        #expect(throws: SystemError.self) { try AuditLog(path: "/tmp/x.log", memoryCapacity: 0) }
    }

    @Test func createsTheFileOwnerOnly() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        let log = try AuditLog(path: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(log.snapshot == AuditStatus(path: path, degraded: false, droppedEvents: 0))
        log.close(timeoutSeconds: 5)
    }

    @Test func writesManyEventsInOrderWithNothingLost() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        // A queue larger than the burst: this test is about order and completeness, the
        // overflow policy has its own test.
        let log = try AuditLog(path: path, queueCapacity: 16_384)
        for index in 0..<10_000 { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 10)

        let lines = try Support.parsedLines(of: path)
        #expect(lines.count == 10_000)
        #expect(sequence(lines) == (0..<10_000).map(Int64.init))
        #expect(lines.allSatisfy { Support.isMicrosecondUTCStamp($0.string("ts") ?? "") })
        #expect(log.snapshot == AuditStatus(path: path, degraded: false, droppedEvents: 0))
    }

    @Test func aTornLastLineFromACrashIsNotGluedToTheNextEvent() throws {
        // A broker SIGKILLed inside a write leaves a fragment without "\n"; the next start
        // must begin its first event on a new line so that event still parses.
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        let fragment = Array("{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"fe".utf8)
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fragment.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == fragment.count)
        close(fd)
        let log = try AuditLog(path: path)
        log.record(Support.numberedFetch(0))
        log.close(timeoutSeconds: 5)
        let lines = Support.lines(of: path)
        #expect(lines.count == 2)
        #expect(lines.first == fragment)
        #expect((try? JSONDocument(parsing: lines.last ?? [])) != nil, "the first new event was glued to the fragment")
    }

    @Test func closeFlushesAndLaterEventsAreCountedAsDropped() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        let log = try AuditLog(path: path)
        for index in 0..<2_000 { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 10)
        #expect(Support.lines(of: path).count == 2_000)

        log.record(Support.numberedFetch(2_000))
        log.close(timeoutSeconds: 1)  // idempotent
        #expect(Support.lines(of: path).count == 2_000)
        #expect(log.snapshot.droppedEvents == 1)
    }

    @Test func rotationByRenameRecreatesTheFile() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        let rotated = directory.file("audit.log.1")
        let headPath = directory.file("audit.head")
        let log = try AuditLog(path: path, headPath: headPath)
        for index in 0..<100 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { Support.lines(of: path).count == 100 })
        #expect(rename(path, rotated) == 0)

        for index in 100..<150 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { Support.lines(of: path).count == 50 })
        log.close(timeoutSeconds: 5)

        #expect(sequence(try Support.parsedLines(of: rotated)) == (0..<100).map(Int64.init))
        #expect(sequence(try Support.parsedLines(of: path)) == (100..<150).map(Int64.init))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(!log.snapshot.degraded)
        // SPEC §11: one chain across the rename; the new file alone starts mid-chain.
        let head = AuditChainHead.read(headPath)
        let report = AuditChainVerifier.verify(files: [rotated, path], recordedHead: head)
        #expect(report.passed && report.firstSeq == 1 && report.lastSeq == 150, "\(report.lines)")
        #expect(AuditChainVerifier.verify(files: [path], recordedHead: head).firstSeq == 101)
    }

    @Test func unopenableAtStartServesDegradedKeepsTheNewestAndRecovers() throws {
        let directory = try AuditTestDirectory()
        // The log's directory is a regular file: open fails with ENOTDIR, even as root.
        let blocker = directory.file("logs")
        let path = blocker + "/audit.log"
        #expect(creat(blocker, 0o600) >= 0)

        let log = try AuditLog(path: path, queueCapacity: 8_192, memoryCapacity: 1_000)
        #expect(log.snapshot.degraded)
        for index in 0..<1_500 { log.record(Support.numberedFetch(index)) }
        // The writer holds the newest 1000 and counts the 500 it had to evict.
        #expect(Support.eventually { log.snapshot.droppedEvents == 500 })
        #expect(log.snapshot.degraded)

        #expect(unlink(blocker) == 0 && mkdir(blocker, 0o700) == 0)
        #expect(Support.eventually { !log.snapshot.degraded })
        log.close(timeoutSeconds: 5)

        let lines = try Support.parsedLines(of: path)
        #expect(lines.count == 1_002)
        #expect(lines.first?.event == "audit.degraded")
        #expect(lines.first?.int("dropped_events") == 0)
        #expect(sequence(lines) == (500..<1_500).map(Int64.init))
        #expect(lines.last?.event == "audit.recovered")
        #expect(lines.last?.int("dropped_events") == 500)
        #expect(log.snapshot == AuditStatus(path: path, degraded: false, droppedEvents: 500))
    }

    @Test func writeFailureDegradesAndRecoversWhenThePathIsReplaced() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        // Opens fine, every write fails with ENOSPC (as root too).
        #expect(symlink("/dev/full", path) == 0)
        let log = try AuditLog(path: path)
        #expect(!log.snapshot.degraded)

        for index in 0..<10 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { log.snapshot.degraded })
        for index in 10..<20 { log.record(Support.numberedFetch(index)) }

        // "Free the disk": the path now names nothing, so the next retry creates a real file.
        #expect(unlink(path) == 0)
        #expect(Support.eventually { !log.snapshot.degraded })
        for index in 20..<25 { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 5)

        let lines = try Support.parsedLines(of: path)
        #expect(lines.map { $0.event ?? "?" }
            == ["audit.degraded"] + Array(repeating: "fetch", count: 20) + ["audit.recovered"]
            + Array(repeating: "fetch", count: 5))
        #expect(sequence(lines) == (0..<25).map(Int64.init))
        #expect(lines[21].int("dropped_events") == 0)
        #expect(log.snapshot == AuditStatus(path: path, degraded: false, droppedEvents: 0))
    }

    @Test func closeWhileStillDegradedCountsTheKeptEventsAsLost() throws {
        let directory = try AuditTestDirectory()
        let blocker = directory.file("logs")
        #expect(creat(blocker, 0o600) >= 0)
        let log = try AuditLog(path: blocker + "/audit.log", memoryCapacity: 10)
        for index in 0..<25 { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 5)
        // 15 evicted from the ring of 10, then the 10 kept ones cannot be written either.
        #expect(log.snapshot.droppedEvents == 25)
        #expect(log.snapshot.degraded)
    }

    @Test func queueOverflowIsCountedAndMarkedWhereTheGapIs() throws {
        let directory = try AuditTestDirectory()
        let path = directory.file("audit.log")
        // A tiny queue so a fast producer outruns the writer. Whether and how often it does
        // depends on scheduling, so the checks are invariants, not counts.
        let log = try AuditLog(path: path, queueCapacity: 8)
        let total = 20_000
        for index in 0..<total { log.record(Support.numberedFetch(index)) }
        log.close(timeoutSeconds: 10)

        let lines = try Support.parsedLines(of: path)
        let dropped = log.snapshot.droppedEvents
        #expect(sequence(lines).count + dropped == total)
        var expectedNext: Int64 = 0
        var index = 0
        var accounted: Int64 = 0
        while index < lines.count {
            let line = lines[index]
            if line.event == "fetch" {
                #expect(line.int("latency_us") == expectedNext, "fetch out of order or lost silently")
                expectedNext = (line.int("latency_us") ?? 0) + 1
                index += 1
                continue
            }
            // A gap: degraded (dropped before) immediately followed by recovered (after).
            #expect(line.event == "audit.degraded")
            #expect(line.int("dropped_events") == accounted)
            guard index + 1 < lines.count else { Issue.record("degraded without recovered"); break }
            #expect(lines[index + 1].event == "audit.recovered")
            let after = lines[index + 1].int("dropped_events") ?? -1
            let gap = after - accounted
            #expect(gap > 0)
            expectedNext += gap
            accounted = after
            index += 2
        }
        #expect(accounted == Int64(dropped))
        #expect(expectedNext == Int64(total))
        #expect(!log.snapshot.degraded)
    }

    @Test func recordDoesNotWaitForTheFile() throws {
        // 50,000 events against an unwritable file: all return (no blocking), the newest
        // 1000 are held, the rest counted.
        let directory = try AuditTestDirectory()
        let blocker = directory.file("logs")
        #expect(creat(blocker, 0o600) >= 0)
        let log = try AuditLog(path: blocker + "/audit.log", queueCapacity: 65_536)
        for index in 0..<50_000 { log.record(Support.numberedFetch(index)) }
        #expect(Support.eventually { log.snapshot.droppedEvents == 49_000 })
        #expect(log.snapshot.degraded)
        log.close(timeoutSeconds: 5)
    }
}

@Suite struct AuditQueueAndRingTests {
    private let time = WallClockTime(seconds: 1_795_608_000)

    @Test func fullQueueRefusesTheNewestAndReportsTheGap() {
        let queue = AuditQueue(capacity: 3)
        for byte in UInt8(0)..<5 {
            queue.push([byte], recordedAt: WallClockTime(seconds: 1_795_608_000 + Int64(byte)))
        }
        #expect(queue.status.degraded && queue.status.droppedEvents == 2)
        var lines: [[UInt8]] = []
        var owners: [String?] = []
        let take = queue.take(into: &lines, owners: &owners, deadlineNanos: 0)
        #expect(lines == [[0], [1], [2]])
        #expect(take.overflowDrops == 2)
        #expect(take.firstDropTime == WallClockTime(seconds: 1_795_608_003))
        #expect(!take.stopRequested)
        #expect(!queue.status.degraded && queue.status.droppedEvents == 2)

        #expect(queue.requestStop())
        #expect(!queue.requestStop())
        #expect(!queue.push([9], recordedAt: time))
        lines.removeAll()
        owners.removeAll()
        let last = queue.take(into: &lines, owners: &owners, deadlineNanos: nil)
        #expect(last.stopRequested && lines.isEmpty && queue.status.droppedEvents == 3)
    }

    @Test func timedTakeReturnsEmptyAtTheDeadline() {
        let queue = AuditQueue(capacity: 3)
        var lines: [[UInt8]] = []
        var owners: [String?] = []
        let take = queue.take(into: &lines, owners: &owners, deadlineNanos: AuditClock.nowNanos() + 20_000_000)
        #expect(lines.isEmpty && take.overflowDrops == 0 && !take.stopRequested)
    }

    @Test func ringKeepsTheNewestInOrder() {
        var ring = AuditRing(capacity: 4)
        let noOwners = [String?](repeating: nil, count: 10)
        #expect(ring.append(contentsOf: (UInt8(0)..<3).map { [$0] }[...], owners: noOwners[0..<3]) == 0)
        #expect(ring.append(contentsOf: (UInt8(3)..<10).map { [$0] }[...], owners: noOwners[3..<10]) == 6)
        #expect(ring.count == 4)
        #expect(ring.removeAll().lines == [[6], [7], [8], [9]])
        #expect(ring.isEmpty)
        ring.append([42])
        #expect(ring.removeAll().lines == [[42]])
    }

    /// SPEC §13: a flooding project evicts its own lines, never the quiet project's.
    @Test func fullRingEvictsTheHeaviestOwnersOldestLine() {
        var ring = AuditRing(capacity: 4)
        ring.append([1], owner: "victim")
        for byte in UInt8(10)..<20 { ring.append([byte], owner: "attacker") }
        ring.append([3], owner: nil)
        ring.append([2], owner: "victim")
        let kept = ring.removeAll()
        #expect(kept.lines == [[1], [19], [3], [2]])
        #expect(kept.owners == ["victim", "attacker", nil, "victim"])
    }

    @Test func fullQueueDropsTheHeaviestOwnersOldestLineForAnotherOwner() {
        let queue = AuditQueue(capacity: 4)
        #expect(queue.push([1], owner: "victim", recordedAt: time))
        for byte in UInt8(10)..<13 { #expect(queue.push([byte], owner: "attacker", recordedAt: time)) }
        // Full: the attacker's own newcomer is refused ...
        #expect(!queue.push([13], owner: "attacker", recordedAt: time))
        // ... the victim's and a broker-wide event take the attacker's oldest places.
        #expect(queue.push([2], owner: "victim", recordedAt: time))
        #expect(queue.push([3], owner: nil, recordedAt: time))
        var lines: [[UInt8]] = []
        var owners: [String?] = []
        let take = queue.take(into: &lines, owners: &owners, deadlineNanos: 0)
        #expect(lines == [[1], [12], [2], [3]])
        #expect(owners == ["victim", "attacker", "victim", nil])
        #expect(take.overflowDrops == 3 && queue.status.droppedEvents == 3)
    }
}
