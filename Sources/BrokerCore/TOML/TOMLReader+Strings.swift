// The four string kinds. Each returns the string's UTF-8 bytes; the input was validated as UTF-8
// up front and escapes only produce valid scalars, so decoding the result never repairs anything.
//
// Newlines inside multi-line strings are normalized to LF (the spec lets parsers normalize), so
// a template written on Windows renders the same on Linux.

extension TOMLReader.Parser {
    /// Any string value; the cursor is on its opening quote.
    mutating func parseString() throws(TOMLError) -> TOMLValue {
        let content: [UInt8]
        if peek() == TOMLByte.quote {
            content = peek(1) == TOMLByte.quote && peek(2) == TOMLByte.quote
                ? try parseMultilineString(delimiter: TOMLByte.quote) : try parseBasicString()
        } else {
            content = peek(1) == TOMLByte.apostrophe && peek(2) == TOMLByte.apostrophe
                ? try parseMultilineString(delimiter: TOMLByte.apostrophe) : try parseLiteralString()
        }
        return .string(String(decoding: content, as: UTF8.self))
    }

    /// `"..."` with escapes, on one line.
    mutating func parseBasicString() throws(TOMLError) -> [UInt8] {
        let start = index
        index += 1
        var content: [UInt8] = []
        var runStart = index
        while true {
            guard !isAtEnd else { throw failure("unterminated string", at: start) }
            let b = bytes[index]
            switch b {
            case TOMLByte.quote:
                content.append(contentsOf: bytes[runStart..<index])
                index += 1
                return content
            case TOMLByte.backslash:
                content.append(contentsOf: bytes[runStart..<index])
                try parseEscape(into: &content)
                runStart = index
            case TOMLByte.newline, TOMLByte.carriageReturn:
                throw failure("unterminated string: a line ending before the closing '\"'", at: index)
            default:
                if TOMLByte.isControlCharacter(b) {
                    throw failure("control character \(TOMLText.scalarName(b)) must be escaped in a string", at: index)
                }
                index += 1
            }
        }
    }

    /// `'...'`: no escapes, on one line.
    mutating func parseLiteralString() throws(TOMLError) -> [UInt8] {
        let start = index
        index += 1
        let contentStart = index
        while true {
            guard !isAtEnd else { throw failure("unterminated literal string", at: start) }
            let b = bytes[index]
            switch b {
            case TOMLByte.apostrophe:
                let content = Array(bytes[contentStart..<index])
                index += 1
                return content
            case TOMLByte.newline, TOMLByte.carriageReturn:
                throw failure("unterminated literal string: a line ending before the closing \"'\"", at: index)
            default:
                if TOMLByte.isControlCharacter(b) {
                    throw failure("control character \(TOMLText.scalarName(b)) is not allowed in a literal string", at: index)
                }
                index += 1
            }
        }
    }

    /// `"""..."""` (escapes, and a backslash at the end of a line swallows the line break and the
    /// whitespace after it) or `'''...'''` (no escapes). Both keep newlines.
    mutating func parseMultilineString(delimiter: UInt8) throws(TOMLError) -> [UInt8] {
        let isBasic = delimiter == TOMLByte.quote
        let kind = isBasic ? "multi-line string" : "multi-line literal string"
        let start = index
        index += 3
        try skipNewlineAfterOpeningDelimiter()
        var content: [UInt8] = []
        var runStart = index
        while true {
            guard !isAtEnd else { throw failure("unterminated \(kind)", at: start) }
            let b = bytes[index]
            switch b {
            case delimiter:
                content.append(contentsOf: bytes[runStart..<index])
                if try closeMultilineString(delimiter: delimiter, into: &content) { return content }
                runStart = index
            case TOMLByte.backslash where isBasic:
                content.append(contentsOf: bytes[runStart..<index])
                if isLineEndingBackslash() {
                    try skipLineEndingBackslash()
                } else {
                    try parseEscape(into: &content)
                }
                runStart = index
            case TOMLByte.newline, TOMLByte.carriageReturn:
                content.append(contentsOf: bytes[runStart..<index])
                try consumeNewline()
                content.append(TOMLByte.newline)
                runStart = index
            default:
                if TOMLByte.isControlCharacter(b) {
                    let rule = isBasic ? "must be escaped in a string" : "is not allowed in a literal string"
                    throw failure("control character \(TOMLText.scalarName(b)) \(rule)", at: index)
                }
                index += 1
            }
        }
    }

    /// A line break right after `"""` or `'''` is not part of the string.
    mutating func skipNewlineAfterOpeningDelimiter() throws(TOMLError) {
        if peek() == TOMLByte.newline || peek() == TOMLByte.carriageReturn { try consumeNewline() }
    }

    /// At a run of delimiter characters inside a multi-line string. One or two are content; three
    /// close the string, and up to two more right before them still belong to the content
    /// (`""""` ends a string with one quote). Six or more in a row cannot be written.
    /// Returns whether the string ended.
    mutating func closeMultilineString(delimiter: UInt8, into content: inout [UInt8]) throws(TOMLError) -> Bool {
        let runStart = index
        while peek() == delimiter { index += 1 }
        let run = index - runStart
        if run < 3 {
            content.append(contentsOf: repeatElement(delimiter, count: run))
            return false
        }
        if run > 5 {
            throw failure("too many quotes in a row at the end of a multi-line string", at: runStart)
        }
        content.append(contentsOf: repeatElement(delimiter, count: run - 3))
        return true
    }

    /// Whether the backslash at the cursor is the last non-blank character on its line.
    func isLineEndingBackslash() -> Bool {
        var i = index + 1
        while byte(at: i) == TOMLByte.space || byte(at: i) == TOMLByte.tab { i += 1 }
        return byte(at: i) == TOMLByte.newline || (byte(at: i) == TOMLByte.carriageReturn && byte(at: i + 1) == TOMLByte.newline)
    }

    /// Skips a line-ending backslash and all whitespace and line breaks after it.
    mutating func skipLineEndingBackslash() throws(TOMLError) {
        index += 1
        while true {
            switch peek() {
            case TOMLByte.space, TOMLByte.tab: index += 1
            case TOMLByte.newline, TOMLByte.carriageReturn: try consumeNewline()
            default: return
            }
        }
    }

    /// One escape sequence; the cursor is on the backslash.
    mutating func parseEscape(into content: inout [UInt8]) throws(TOMLError) {
        let start = index
        index += 1
        let letter = peek()
        index += 1
        switch letter {
        case UInt8(ascii: "b"): content.append(0x08)
        case UInt8(ascii: "t"): content.append(TOMLByte.tab)
        case UInt8(ascii: "n"): content.append(TOMLByte.newline)
        case UInt8(ascii: "f"): content.append(0x0C)
        case UInt8(ascii: "r"): content.append(TOMLByte.carriageReturn)
        case TOMLByte.quote: content.append(TOMLByte.quote)
        case TOMLByte.backslash: content.append(TOMLByte.backslash)
        case UInt8(ascii: "u"): try appendUnicodeEscape(digits: 4, start: start, into: &content)
        case UInt8(ascii: "U"): try appendUnicodeEscape(digits: 8, start: start, into: &content)
        default:
            if letter == 0 { throw failure("unterminated escape sequence in string", at: start) }
            if letter >= 0x21 && letter < 0x7F {
                throw failure("invalid escape \\\(Character(Unicode.Scalar(letter))) in string", at: start)
            }
            throw failure("invalid escape: '\\' followed by \(describeByte(at: index - 1)) in string", at: start)
        }
    }

    /// `\uXXXX` or `\UXXXXXXXX`: exactly that many hex digits naming a Unicode scalar value.
    mutating func appendUnicodeEscape(digits: Int, start: Int, into content: inout [UInt8]) throws(TOMLError) {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let digit = TOMLByte.hexDigitValue(peek()) else {
                throw failure("\\\(digits == 4 ? "u" : "U") escape needs exactly \(digits) hex digits", at: start)
            }
            // At most 8 digits: fits in UInt32 without overflow.
            value = value << 4 | UInt32(digit)
            index += 1
        }
        guard Unicode.Scalar(value) != nil else {
            throw failure("escape \\\(digits == 4 ? "u" : "U")\(TOMLText.hex(value, width: digits)) is not a Unicode scalar value", at: start)
        }
        TOMLByte.appendUTF8(value, to: &content)
    }
}
