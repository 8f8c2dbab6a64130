import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The pieces the harnesses judge gates with: if these are wrong, a gate is wrong.
@Suite struct HarnessPartsTests {
    @Test func auditScanToleratesOnlyATornLastLine() throws {
        let root = try TempDirectory(prefix: "hp")
        let good = "{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"fetch\"}\n"
        let torn = try root.write("torn.log", good + good + "{\"ts\":\"2026-01-01T00:0")
        let scan = AuditLogReader.scan(torn)
        #expect(scan.lines == 3 && scan.fetches == 2 && scan.tornLastLine && scan.badLines.isEmpty)

        let middle = try root.write("middle.log", good + "not json\n" + good)
        let bad = AuditLogReader.scan(middle)
        #expect(bad.badLines == [2] && !bad.tornLastLine && !bad.parsesCleanly)
        #expect(AuditLogReader.scan(root.file("missing.log")).lines == 0)
    }

    @Test func markerScanFindsValuesInFilesOnly() throws {
        let root = try TempDirectory(prefix: "hp")
        try root.write("state/registry.json", "{\"projects\":[]}")
        #expect(MarkerScan.filesWithMarkers(under: [root.path]).isEmpty)
        // A marker straddling the scanner's 1 MiB chunk boundary is still found.
        let padding = String(repeating: "x", count: (1 << 20) - 5)
        let path = try root.write("state/leak.bin", padding + SecretMarker.value("g1_s0"))
        #expect(MarkerScan.filesWithMarkers(under: [root.path]) == [path])
        // Planted on purpose: gone before `make test` keeps the directory for the leak gate.
        unlink(path)
    }

    @Test func percentilesAreNearestRank() {
        var samples = LatencySamples()
        for value in (1...1000).reversed() { samples.record(UInt64(value)) }
        let summary = samples.summary()
        #expect(summary.min == 1 && summary.p50 == 500 && summary.p90 == 900 && summary.p99 == 990)
        #expect(summary.p999 == 999 && summary.max == 1000 && summary.count == 1000)
    }

    @Test func markerSetValuesCarryTheirGeneration() {
        let set = MarkerSet(count: 10, valueBytes: 1024)
        let value = set.value("s3", generation: 42)
        #expect(value.utf8.count == 1024 && SecretMarker.occurs(in: value))
        #expect(MarkerSet.generation(of: value) == 42 && MarkerSet.generation(of: "plain") == nil)
        #expect(set.pushRequest(generation: 1).count > 10 * 1024)
    }

    @Test func durationsAndSlopes() {
        #expect(HarnessCommandLine.parseDuration("1h") == 3600 && HarnessCommandLine.parseDuration("500ms") == 0.5)
        #expect(HarnessCommandLine.parseDuration("90") == 90 && HarnessCommandLine.parseDuration("5m") == 300)
        #expect(HarnessCommandLine.parseDuration("soon") == nil)
        let rising = (0..<60).map { (seconds: Double($0), value: 1000 + Double($0) * 2) }
        #expect(abs(Trend.slopePerMinute(rising) - 120) < 1e-9)
        #expect(Trend.slopePerMinute([(0, 5), (60, 5)]) == 0)
    }

    @Test func reportsRedactSecretValues() {
        var report = GateReport(tool: "T")
        report.add(GateRow("row", SecretMarker.value("g1_s0_xxx"), verdict: .fail))
        report.note("seen " + SecretMarker.value("g2_s1"))
        #expect(!SecretMarker.occurs(in: report.json) && !SecretMarker.occurs(in: report.text))
        #expect(report.failed && report.exitCode == 1)
    }
}
