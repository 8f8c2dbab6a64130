import CSeccomp

/// A point in wall-clock time (CLOCK_REALTIME), formatted as RFC 3339 UTC without Foundation:
/// `2026-11-25T12:00:00Z` (`loaded_at`) or `2026-11-25T12:00:00.123456Z` (audit `ts`).
public struct WallClockTime: Comparable, Hashable, Sendable {
    /// Seconds since the Unix epoch, clamped to 0000-01-01T00:00:00Z ... 9999-12-31T23:59:59Z
    /// so the year always has the four digits RFC 3339 requires.
    public let seconds: Int64
    /// 0 ..< 1_000_000_000.
    public let nanoseconds: Int32

    static let minimumSeconds: Int64 = -62_167_219_200  // 0000-01-01T00:00:00Z
    static let maximumSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        let carry = Self.floorDivide(Int64(nanoseconds), 1_000_000_000)
        let (sum, overflow) = seconds.addingReportingOverflow(carry)
        var seconds = overflow ? (carry > 0 ? Int64.max : Int64.min) : sum
        var nanoseconds = Int32(Int64(nanoseconds) - carry * 1_000_000_000)
        if seconds < Self.minimumSeconds { (seconds, nanoseconds) = (Self.minimumSeconds, 0) }
        if seconds > Self.maximumSeconds { (seconds, nanoseconds) = (Self.maximumSeconds, 999_999_999) }
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The current wall-clock time. clock_gettime(CLOCK_REALTIME) cannot fail with a valid
    /// clock id and pointer; if it ever did, the epoch is reported rather than trapping.
    public static func now() -> WallClockTime {
        var spec = timespec()
        guard clock_gettime(CLOCK_REALTIME, &spec) == 0 else { return WallClockTime(seconds: 0) }
        return WallClockTime(seconds: Int64(spec.tv_sec), nanoseconds: Int32(spec.tv_nsec))
    }

    public static func < (lhs: WallClockTime, rhs: WallClockTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    /// `2026-11-25T12:00:00Z`
    public var rfc3339Seconds: String {
        var bytes: [UInt8] = []
        appendRFC3339(to: &bytes, microseconds: false)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2026-11-25T12:00:00.123456Z` (truncated, never rounded up into the next second).
    public var rfc3339Microseconds: String {
        var bytes: [UInt8] = []
        appendRFC3339(to: &bytes, microseconds: true)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the RFC 3339 form without allocating a String (the audit hot path).
    public func appendRFC3339(to bytes: inout [UInt8], microseconds: Bool) {
        let days = Self.floorDivide(seconds, 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let date = Self.civil(fromDaysSinceEpoch: days)
        Self.appendDigits(date.year, width: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Self.appendDigits(date.month, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Self.appendDigits(date.day, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        Self.appendDigits(secondOfDay / 3600, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        Self.appendDigits(secondOfDay / 60 % 60, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        Self.appendDigits(secondOfDay % 60, width: 2, to: &bytes)
        if microseconds {
            bytes.append(UInt8(ascii: "."))
            Self.appendDigits(Int(nanoseconds / 1000), width: 6, to: &bytes)
        }
        bytes.append(UInt8(ascii: "Z"))
    }

    /// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
    /// civil_from_days: exact for every day in range, no tables, no loops).
    static func civil(fromDaysSinceEpoch days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468                        // days since 0000-03-01
        let era = floorDivide(shifted, 146_097)             // 400-year eras
        let dayOfEra = shifted - era * 146_097              // 0 ... 146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // from March 1
        let monthFromMarch = (5 * dayOfYear + 2) / 153      // 0 = March ... 11 = February
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient
    }

    private static func appendDigits(_ value: Int, width: Int, to bytes: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
