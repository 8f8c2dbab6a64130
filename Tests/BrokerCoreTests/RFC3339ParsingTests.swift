@testable import BrokerCore
import Testing

/// `WallClockTime.parseRFC3339`: what `audit --since` accepts.
@Suite struct RFC3339ParsingTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0), Int32(0)),
        ("2026-11-25T12:00:00Z", Int64(1_795_608_000), Int32(0)),
        ("2026-11-25T12:00:00.123456Z", Int64(1_795_608_000), Int32(123_456_000)),
        ("2026-11-25T12:00:00.1Z", Int64(1_795_608_000), Int32(100_000_000)),
        ("2026-11-25T12:00:00.1234567891Z", Int64(1_795_608_000), Int32(123_456_789)),
        ("2026-11-25t12:00:00z", Int64(1_795_608_000), Int32(0)),
        ("2026-11-25 12:00:00Z", Int64(1_795_608_000), Int32(0)),
        ("2026-11-25T14:30:00+02:30", Int64(1_795_608_000), Int32(0)),
        ("2026-11-25T07:00:00-05:00", Int64(1_795_608_000), Int32(0)),
        ("2026-11-26T00:30:00+12:30", Int64(1_795_608_000), Int32(0)),
        ("2024-02-29T00:00:00Z", Int64(1_709_164_800), Int32(0)),
        ("2000-02-29T00:00:00Z", Int64(951_782_400), Int32(0)),
        ("1969-12-31T23:59:59Z", Int64(-1), Int32(0)),
    ])
    func parsesValidTimes(_ text: String, _ seconds: Int64, _ nanoseconds: Int32) throws {
        let time = try #require(WallClockTime.parseRFC3339(text), "rejected \(text)")
        #expect(time.seconds == seconds)
        #expect(time.nanoseconds == nanoseconds)
    }

    @Test(arguments: [
        "", "2026-11-25", "2026-11-25T12:00:00", "2026-11-25T12:00Z", "2026-11-25T12:00:00.Z",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T12:60:00Z",
        "2026-11-25T12:00:61Z", "2026-11-25T12:00:00+2:00", "2026-11-25T12:00:00+24:00", "2026-11-25T12:00:00+02:60",
        "2026-11-25T12:00:00+0200", "2026-11-25T12:00:00Zjunk", "2026-11-25X12:00:00Z", "2026/11/25T12:00:00Z",
        "+2026-11-25T12:00:00Z", "2026-11-25T12:00:00 Z", "５m", "2026-11-25T12:00:00.123456Z ",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(WallClockTime.parseRFC3339(text) == nil, "accepted \(text)")
    }

    @Test func roundTripsWhatTheAuditLogWrites() throws {
        let now = WallClockTime.now()
        let parsed = try #require(WallClockTime.parseRFC3339(now.rfc3339Microseconds))
        #expect(parsed.seconds == now.seconds)
        #expect(parsed.nanoseconds == now.nanoseconds / 1000 * 1000)
        #expect(WallClockTime.parseRFC3339(now.rfc3339Seconds) == WallClockTime(seconds: now.seconds))
    }

    @Test func offsetsCompareAsTheSameInstant() throws {
        let utc = try #require(WallClockTime.parseRFC3339("2026-11-25T12:00:00Z"))
        let east = try #require(WallClockTime.parseRFC3339("2026-11-25T13:00:00+01:00"))
        let west = try #require(WallClockTime.parseRFC3339("2026-11-25T11:00:00.000001-01:00"))
        #expect(utc == east)
        #expect(west > utc)
    }
}
