// Input checks done once before parsing, turning byte offsets into line/column positions, and
// describing offending bytes in error messages.

extension TOMLReader.Parser {
    /// Turns byte offsets into positions by walking forward through the text. Positions are
    /// asked for in increasing order while parsing (each key's, then maybe one error's), so the
    /// walk is linear overall; asking for an earlier offset restarts from the top.
    struct Locator {
        var index: Int
        var line: Int
        var column: Int

        /// The line and column of byte offset `target` (see `TOMLPosition` for the column rule).
        mutating func position(of target: Int, in bytes: [UInt8], bodyStart: Int) -> TOMLPosition {
            let end = min(max(target, bodyStart), bytes.count)
            if end < index {
                self = Locator(index: bodyStart, line: 1, column: 1)
            }
            while index < end {
                let b = bytes[index]
                if b == TOMLByte.newline {
                    line += 1
                    column = 1
                } else if b & 0xC0 != 0x80 {
                    // Count the first byte of each scalar; continuation bytes are 10xxxxxx.
                    column += 1
                }
                index += 1
            }
            return TOMLPosition(line: line, column: column)
        }
    }

    /// Skips a byte order mark and rejects input that is not well-formed UTF-8 or contains NUL
    /// (NUL is never valid in TOML, and `byte(at:)` uses 0 to mean end of input).
    mutating func validateInput() throws(TOMLError) {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
            bodyStart = 3
            index = 3
            locator = Locator(index: 3, line: 1, column: 1)
        }
        if let bad = TOMLByte.firstInvalidUTF8Byte(bytes, from: bodyStart) {
            throw failure("invalid UTF-8 byte 0x\(TOMLText.hex(bytes[bad], width: 2))", at: bad)
        }
        var i = bodyStart
        while i < bytes.count {
            if bytes[i] == 0 { throw failure("NUL character (U+0000) is not allowed", at: i) }
            i += 1
        }
    }

    /// The position of byte offset `offset`; keeps the walk for the next call.
    mutating func position(at offset: Int) -> TOMLPosition {
        locator.position(of: offset, in: bytes, bodyStart: bodyStart)
    }

    /// An error at byte offset `offset`. Non-mutating so that any check can build one: it walks
    /// a copy of the locator, at most once through the text, and only once per parse.
    @inline(never)
    func failure(_ message: String, at offset: Int) -> TOMLError {
        var walk = locator
        return TOMLError(message, at: walk.position(of: offset, in: bytes, bodyStart: bodyStart))
    }

    /// "'x'", "U+0009", "U+3000", "end of line" or "end of input", for "found ..." in messages:
    /// one character at most, and anything that is not printable ASCII by its code point.
    @inline(never)
    func describeByte(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let b = bytes[offset]
        if b == TOMLByte.newline || b == TOMLByte.carriageReturn { return "end of line" }
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        if b < 0x80 { return TOMLText.scalarName(b) }
        // A multi-byte scalar: the input was validated, but decode defensively anyway.
        let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
        guard offset + length <= bytes.count else { return "byte 0x\(TOMLText.hex(b, width: 2))" }
        var value = UInt32(b) & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F)
        for i in 1..<length { value = value << 6 | UInt32(bytes[offset + i] & 0x3F) }
        return "U+" + TOMLText.hex(value, width: 4)
    }
}
