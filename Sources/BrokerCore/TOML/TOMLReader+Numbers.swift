// Integers and floats. The token is first cut out by character class, then checked against the
// TOML grammar piece by piece so each mistake gets its own message. Integer arithmetic reports
// overflow instead of trapping; floats are converted by the standard library's `Double(_:)`
// (correctly rounded, no Foundation) only after the grammar check, so it never sees anything
// but `[-+]digits[.digits][e[-+]digits]`.

extension TOMLReader.Parser {
    /// A value starting with a digit: a time (`07:32:00`), a date or date-time (`1979-05-27...`),
    /// or a number.
    mutating func parseNumberOrDateTime() throws(TOMLError) -> TOMLValue {
        if TOMLByte.isDigit(peek(1)) && peek(2) == TOMLByte.colon {
            return .localTime(try parseTime())
        }
        if TOMLByte.isDigit(peek(1)) && TOMLByte.isDigit(peek(2)) && TOMLByte.isDigit(peek(3)) && peek(4) == TOMLByte.minus {
            return try parseDateOrDateTime()
        }
        return try parseNumber()
    }

    mutating func parseNumber() throws(TOMLError) -> TOMLValue {
        let start = index
        while isNumberTokenByte(peek()) { index += 1 }
        let end = index
        var i = start
        var isNegative = false
        let hasSign = byte(at: i) == TOMLByte.plus || byte(at: i) == TOMLByte.minus
        if hasSign {
            isNegative = byte(at: i) == TOMLByte.minus
            i += 1
        }

        if end - i == 3 && matches("inf", at: i) { return .float(isNegative ? -.infinity : .infinity) }
        if end - i == 3 && matches("nan", at: i) { return .float(.nan) }

        if byte(at: i) == UInt8(ascii: "0"), let radix = radixPrefix(byte(at: i + 1)) {
            if hasSign {
                throw failure("a sign is not allowed on a hexadecimal, octal or binary integer", at: start)
            }
            return .integer(try radixInteger(from: i + 2, to: end, radix: radix, start: start))
        }

        let integerStart = i
        i = try digitGroup(from: i, to: end, start: start)
        if i - integerStart > 1 && byte(at: integerStart) == UInt8(ascii: "0") {
            throw failure("leading zeros are not allowed in a number", at: start)
        }
        var isFloat = false
        if i < end && byte(at: i) == TOMLByte.dot {
            isFloat = true
            i = try digitGroup(from: i + 1, to: end, start: start)
        }
        if i < end && (byte(at: i) == UInt8(ascii: "e") || byte(at: i) == UInt8(ascii: "E")) {
            isFloat = true
            i += 1
            if i < end && (byte(at: i) == TOMLByte.plus || byte(at: i) == TOMLByte.minus) { i += 1 }
            i = try digitGroup(from: i, to: end, start: start)
        }
        guard i == end else {
            throw failure("invalid number: unexpected \(describeByte(at: i))", at: i)
        }
        if isFloat {
            return .float(try floatValue(from: start, to: end))
        }
        return .integer(try decimalInteger(from: integerStart, to: i, isNegative: isNegative, start: start))
    }

    /// One or more decimal digits, single underscores allowed between digits. Returns the offset
    /// after the group.
    func digitGroup(from first: Int, to end: Int, start: Int) throws(TOMLError) -> Int {
        guard first < end && TOMLByte.isDigit(byte(at: first)) else {
            throw failure("invalid number: expected a digit at \(describeByte(at: first))", at: first < end ? first : start)
        }
        var i = first + 1
        while i < end {
            let b = byte(at: i)
            if TOMLByte.isDigit(b) {
                i += 1
            } else if b == TOMLByte.underscore {
                guard i + 1 < end && TOMLByte.isDigit(byte(at: i + 1)) else {
                    throw failure("an underscore in a number must be between two digits", at: i)
                }
                i += 2
            } else {
                break
            }
        }
        return i
    }

    /// Decimal digits (already checked by `digitGroup`) as an Int64, overflow being an error.
    func decimalInteger(from first: Int, to end: Int, isNegative: Bool, start: Int) throws(TOMLError) -> Int64 {
        var magnitude: UInt64 = 0
        for i in first..<end {
            let b = byte(at: i)
            guard TOMLByte.isDigit(b) else { continue }  // underscores
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
            guard !overflow1 && !overflow2 else { throw failure("integer does not fit in 64 bits", at: start) }
            magnitude = sum
        }
        return try signedInteger(magnitude, isNegative: isNegative, start: start)
    }

    /// `0x`/`0o`/`0b` digits, underscores between digits. Always non-negative.
    func radixInteger(from first: Int, to end: Int, radix: UInt64, start: Int) throws(TOMLError) -> Int64 {
        var magnitude: UInt64 = 0
        var i = first
        var previousWasDigit = false
        while i < end {
            let b = byte(at: i)
            if b == TOMLByte.underscore {
                guard previousWasDigit && i + 1 < end else {
                    throw failure("an underscore in a number must be between two digits", at: i)
                }
                previousWasDigit = false
                i += 1
                continue
            }
            guard let digit = TOMLByte.hexDigitValue(b), UInt64(digit) < radix else {
                throw failure("invalid digit \(describeByte(at: i)) in a base-\(radix) integer", at: i)
            }
            let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit))
            guard !overflow1 && !overflow2 else { throw failure("integer does not fit in 64 bits", at: start) }
            magnitude = sum
            previousWasDigit = true
            i += 1
        }
        guard previousWasDigit else {
            throw failure("expected digits after the base prefix", at: start)
        }
        return try signedInteger(magnitude, isNegative: false, start: start)
    }

    func signedInteger(_ magnitude: UInt64, isNegative: Bool, start: Int) throws(TOMLError) -> Int64 {
        if isNegative {
            // -9223372036854775808 is the one magnitude that only fits when negative.
            if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
            guard magnitude <= UInt64(Int64.max) else { throw failure("integer does not fit in 64 bits", at: start) }
            return -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw failure("integer does not fit in 64 bits", at: start) }
        return Int64(magnitude)
    }

    /// The grammar-checked float text between `first` and `end`, underscores dropped.
    func floatValue(from first: Int, to end: Int) throws(TOMLError) -> Double {
        var text = ""
        text.reserveCapacity(end - first)
        for i in first..<end where byte(at: i) != TOMLByte.underscore {
            text.unicodeScalars.append(Unicode.Scalar(byte(at: i)))
        }
        guard let value = Double(text), value.isFinite else {
            throw failure("float is out of range for a 64-bit float", at: first)
        }
        return value
    }

    func matches(_ word: String, at offset: Int) -> Bool {
        var i = offset
        for expected in word.utf8 {
            guard byte(at: i) == expected else { return false }
            i += 1
        }
        return true
    }
}

/// The radix named by the letter after a leading 0 (lower case only, as TOML requires).
private func radixPrefix(_ b: UInt8) -> UInt64? {
    switch b {
    case UInt8(ascii: "x"): 16
    case UInt8(ascii: "o"): 8
    case UInt8(ascii: "b"): 2
    default: nil
    }
}

/// Bytes that can be part of a number token: digits, letters (hex digits, e, inf, nan), _ . + -
@inline(__always)
private func isNumberTokenByte(_ b: UInt8) -> Bool {
    TOMLByte.isBareKeyByte(b) || b == TOMLByte.dot || b == TOMLByte.plus
}
