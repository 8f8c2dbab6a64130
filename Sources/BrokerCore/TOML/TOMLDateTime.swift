// TOML's four date/time kinds as plain values. The reader validates every field before building
// one, so a value it returns is always a real calendar date and time of day.

/// A calendar date, `1979-05-27`. Year 0...9999.
public struct TOMLDate: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// RFC 3339 `full-date`.
    public var description: String {
        "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
    }

    /// Days in `month` of `year` in the proleptic Gregorian calendar; 0 for a month outside 1...12.
    public static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: return 31
        case 4, 6, 9, 11: return 30
        case 2: return isLeapYear(year) ? 29 : 28
        default: return 0
        }
    }

    public static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }
}

/// A time of day, `07:32:00.999999`. `second` may be 60 (a leap second, as RFC 3339 allows).
/// Fractional seconds beyond nanoseconds are truncated when read, as the TOML spec requires.
public struct TOMLTime: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int
    public let second: Int
    public let nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }

    /// RFC 3339 `partial-time`; the fraction is printed only when non-zero, without trailing zeros.
    public var description: String {
        var text = "\(padded(hour, 2)):\(padded(minute, 2)):\(padded(second, 2))"
        if nanosecond > 0 {
            var digits = padded(nanosecond, 9)
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return text
    }
}

/// A date and time, with an offset from UTC in minutes, or `nil` for a local date-time.
public struct TOMLDateTime: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let date: TOMLDate
    public let time: TOMLTime
    public let offsetMinutes: Int?

    public init(date: TOMLDate, time: TOMLTime, offsetMinutes: Int?) {
        self.date = date
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    /// RFC 3339 `date-time` (`Z` for a zero offset), or a local date-time without an offset.
    public var description: String {
        let base = "\(date)T\(time)"
        guard let offset = offsetMinutes else { return base }
        if offset == 0 { return base + "Z" }
        let magnitude = offset.magnitude
        let sign = offset < 0 ? "-" : "+"
        return base + sign + padded(Int(magnitude / 60), 2) + ":" + padded(Int(magnitude % 60), 2)
    }
}

/// Decimal digits of a non-negative number, left-padded with zeros to `width`.
private func padded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    guard digits.count < width else { return digits }
    return String(repeating: "0", count: width - digits.count) + digits
}
