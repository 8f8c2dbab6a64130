// RFC 3339 dates and times as TOML 1.0 allows them: `T`, `t` or one space between date and time;
// seconds required; any number of fraction digits (truncated to nanoseconds); `Z`, `z` or
// `+hh:mm`/`-hh:mm` offsets. Every field is range-checked, including the day against the month
// and leap years, so `2023-02-29` is an error and `2024-02-29` is not.

extension TOMLReader.Parser {
    /// `YYYY-MM-DD`, optionally followed by a time and then optionally by an offset.
    mutating func parseDateOrDateTime() throws(TOMLError) -> TOMLValue {
        let date = try parseDate()
        let separator = peek()
        if separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") {
            index += 1
        } else if separator == TOMLByte.space && TOMLByte.isDigit(peek(1)) && TOMLByte.isDigit(peek(2)) && peek(3) == TOMLByte.colon {
            // A space only separates date and time when a time follows; otherwise the date ends.
            index += 1
        } else {
            return .localDate(date)
        }
        let time = try parseTime()
        guard let offset = try parseOffset() else {
            return .localDateTime(TOMLDateTime(date: date, time: time, offsetMinutes: nil))
        }
        return .offsetDateTime(TOMLDateTime(date: date, time: time, offsetMinutes: offset))
    }

    mutating func parseDate() throws(TOMLError) -> TOMLDate {
        let start = index
        guard let year = digits(4), peek() == TOMLByte.minus else { throw failure("invalid date: expected YYYY-MM-DD", at: start) }
        index += 1
        guard let month = digits(2), peek() == TOMLByte.minus else { throw failure("invalid date: expected YYYY-MM-DD", at: start) }
        index += 1
        guard let day = digits(2) else { throw failure("invalid date: expected YYYY-MM-DD", at: start) }
        guard (1...12).contains(month) else {
            throw failure("invalid date: month \(month) is not 1 to 12", at: start)
        }
        guard day >= 1 && day <= TOMLDate.daysInMonth(month, year: year) else {
            throw failure("invalid date: day \(day) does not exist in \(TOMLDate(year: year, month: month, day: 1).description.prefix(7))", at: start)
        }
        return TOMLDate(year: year, month: month, day: day)
    }

    /// `HH:MM:SS[.fraction]`.
    mutating func parseTime() throws(TOMLError) -> TOMLTime {
        let start = index
        guard let hour = digits(2), peek() == TOMLByte.colon else { throw failure("invalid time: expected HH:MM:SS", at: start) }
        index += 1
        guard let minute = digits(2), peek() == TOMLByte.colon else { throw failure("invalid time: expected HH:MM:SS", at: start) }
        index += 1
        guard let second = digits(2) else { throw failure("invalid time: expected HH:MM:SS", at: start) }
        var nanosecond = 0
        if peek() == TOMLByte.dot {
            index += 1
            guard TOMLByte.isDigit(peek()) else { throw failure("invalid time: expected digits after '.'", at: index) }
            var scale = 100_000_000
            while TOMLByte.isDigit(peek()) {
                // Digits past nanoseconds are read and dropped (truncated, as the spec says).
                nanosecond += Int(peek() - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
        }
        guard hour <= 23 else { throw failure("invalid time: hour \(hour) is not 0 to 23", at: start) }
        guard minute <= 59 else { throw failure("invalid time: minute \(minute) is not 0 to 59", at: start) }
        // 60 is a leap second, which RFC 3339 allows.
        guard second <= 60 else { throw failure("invalid time: second \(second) is not 0 to 60", at: start) }
        return TOMLTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
    }

    /// `Z`, `z`, `+hh:mm` or `-hh:mm` in minutes east of UTC, or nil when there is none.
    mutating func parseOffset() throws(TOMLError) -> Int? {
        let start = index
        switch peek() {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
            return 0
        case TOMLByte.plus, TOMLByte.minus:
            let sign = peek() == TOMLByte.minus ? -1 : 1
            index += 1
            guard let hours = digits(2), peek() == TOMLByte.colon else {
                throw failure("invalid time offset: expected +hh:mm or -hh:mm", at: start)
            }
            index += 1
            guard let minutes = digits(2) else { throw failure("invalid time offset: expected +hh:mm or -hh:mm", at: start) }
            guard hours <= 23 && minutes <= 59 else { throw failure("invalid time offset: out of range", at: start) }
            return sign * (hours * 60 + minutes)
        default:
            return nil
        }
    }

    /// Exactly `count` decimal digits at the cursor as a number (consumed), or nil (nothing consumed).
    mutating func digits(_ count: Int) -> Int? {
        var value = 0
        for offset in 0..<count {
            let b = peek(offset)
            guard TOMLByte.isDigit(b) else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        index += count
        return value
    }
}
