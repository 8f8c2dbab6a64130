// Strict RFC 8259 reader over bytes.
//
// - Input must be UTF-8; every string is validated (no overlong forms, no encoded surrogates,
//   nothing above U+10FFFF) and `\u` escapes must pair surrogates correctly.
// - String escapes are decoded *in place*: the decoded form is never longer than the escaped
//   one, so the parsed buffer itself holds every string value and nothing is copied.
// - Nesting is limited (`JSONReader.Options.maxDepth`, default 64) so recursion is bounded;
//   every other allocation is proportional to the input, which the caller bounds.
// - No input traps: all arithmetic on input-derived values is checked.

public enum JSONReader {
    public struct Options: Sendable {
        /// Arrays and objects nested deeper than this are rejected. Requests and manifests
        /// are shallow; 64 leaves ample room and keeps recursion far from the stack limit.
        public var maxDepth: Int
        /// Reject an object that names the same key twice (requests must be unambiguous).
        public var rejectDuplicateKeys: Bool

        public init(maxDepth: Int = 64, rejectDuplicateKeys: Bool = false) {
            self.maxDepth = maxDepth
            self.rejectDuplicateKeys = rejectDuplicateKeys
        }
    }

    /// Parses `buffer` as one JSON text, decoding strings in place. Spans in the result index
    /// into `buffer`. On error the buffer's contents are unspecified (partially decoded).
    public static func parse(
        inPlace buffer: UnsafeMutableBufferPointer<UInt8>, options: Options = Options()
    ) throws(JSONError) -> JSONValue {
        var parser = Parser(bytes: buffer, options: options)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != buffer.count { throw JSONError(kind: .trailingData, offset: parser.index) }
        return value
    }
}

private struct Parser {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let options: JSONReader.Options
    var index = 0

    init(bytes: UnsafeMutableBufferPointer<UInt8>, options: JSONReader.Options) {
        self.bytes = bytes
        self.options = options
    }

    private func fail(_ kind: JSONError.Kind, at offset: Int? = nil) -> JSONError {
        JSONError(kind: kind, offset: offset ?? index)
    }

    private var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard !atEnd else { throw fail(.unexpectedEnd) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail(.unexpectedByte)
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw fail(.unexpectedEnd) }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw fail(.unexpectedByte, at: index + offset)
        }
        index += count
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= options.maxDepth else { throw fail(.tooDeep(limit: options.maxDepth)) }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if !atEnd, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(elements)
            default: throw fail(.unexpectedByte)
            }
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= options.maxDepth else { throw fail(.tooDeep(limit: options.maxDepth)) }
        index += 1  // {
        var members: [JSONMember] = []
        skipWhitespace()
        if !atEnd, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        var seenKeys = KeySet()
        while true {
            skipWhitespace()
            guard !atEnd else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte) }
            let keyOffset = index
            let key = try parseString()
            if options.rejectDuplicateKeys, !seenKeys.insert(key, in: UnsafeBufferPointer(bytes)) {
                throw fail(.duplicateKey, at: keyOffset)
            }
            skipWhitespace()
            guard !atEnd else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: ":") else { throw fail(.unexpectedByte) }
            index += 1
            skipWhitespace()
            members.append(JSONMember(key: key, value: try parseValue(depth: depth)))
            skipWhitespace()
            guard !atEnd else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            default: throw fail(.unexpectedByte)
            }
        }
    }

    // MARK: numbers

    private mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard !atEnd else { throw fail(.invalidNumber) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(bytes[index]) {
            skipDigits()
        } else {
            throw fail(.invalidNumber)
        }
        var isInteger = true
        if !atEnd, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard !atEnd, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
            skipDigits()
        }
        if !atEnd, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if !atEnd, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard !atEnd, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
            skipDigits()
        }
        return JSONNumber(text: JSONSpan(start: start, count: index - start), isInteger: isInteger)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    // MARK: strings

    /// Parses the string starting at the opening quote and decodes it in place: the decoded
    /// bytes start right after the opening quote. `write` never overtakes `index`.
    private mutating func parseString() throws(JSONError) -> JSONSpan {
        index += 1  // opening quote
        let start = index
        var write = index
        while true {
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return JSONSpan(start: start, count: write - start)
            case UInt8(ascii: "\\"):
                try decodeEscape(write: &write)
            case 0x00..<0x20:
                throw fail(.controlCharacterInString)
            case 0x20..<0x80:
                bytes[write] = byte
                write += 1
                index += 1
            default:
                let length = try validateUTF8Sequence()
                for offset in 0..<length { bytes[write + offset] = bytes[index + offset] }
                write += length
                index += length
            }
        }
    }

    private mutating func decodeEscape(write: inout Int) throws(JSONError) {
        let escapeStart = index
        index += 1
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        let simple: UInt8
        switch bytes[index] {
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            index += 1
            var scalar = try readHex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                      bytes[index + 1] == UInt8(ascii: "u")
                else { throw fail(.unpairedSurrogate, at: escapeStart) }
                index += 2
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw fail(.unpairedSurrogate, at: escapeStart) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw fail(.unpairedSurrogate, at: escapeStart)
            }
            writeUTF8(scalar, at: &write)
            return
        default:
            throw fail(.invalidEscape, at: escapeStart)
        }
        bytes[write] = simple
        write += 1
        index += 1
    }

    private mutating func readHex4() throws(JSONError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private func writeUTF8(_ scalar: UInt32, at write: inout Int) {
        switch scalar {
        case 0..<0x80:
            bytes[write] = UInt8(scalar)
            write += 1
        case 0x80..<0x800:
            bytes[write] = UInt8(0xC0 | (scalar >> 6))
            bytes[write + 1] = UInt8(0x80 | (scalar & 0x3F))
            write += 2
        case 0x800..<0x10000:
            bytes[write] = UInt8(0xE0 | (scalar >> 12))
            bytes[write + 1] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
            bytes[write + 2] = UInt8(0x80 | (scalar & 0x3F))
            write += 3
        default:
            bytes[write] = UInt8(0xF0 | (scalar >> 18))
            bytes[write + 1] = UInt8(0x80 | ((scalar >> 12) & 0x3F))
            bytes[write + 2] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
            bytes[write + 3] = UInt8(0x80 | (scalar & 0x3F))
            write += 4
        }
    }

    /// Validates the multi-byte UTF-8 sequence at `index` and returns its length.
    private func validateUTF8Sequence() throws(JSONError) -> Int {
        let length = UTF8Validation.sequenceLength(UnsafeBufferPointer(bytes), at: index)
        guard length > 0 else { throw fail(.invalidUTF8) }
        return length
    }
}

/// Tracks the keys of one object to find duplicates; objects are small, so a linear scan
/// is used until a hash set pays off.
private struct KeySet {
    private var spans: [JSONSpan] = []
    private var hashed: Set<[UInt8]>? = nil

    mutating func insert(_ key: JSONSpan, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let keyBytes = UnsafeBufferPointer(rebasing: bytes[key.start..<key.end])
        if hashed != nil {
            return hashed!.insert(Array(keyBytes)).inserted
        }
        for span in spans where span.count == key.count {
            if UnsafeBufferPointer(rebasing: bytes[span.start..<span.end]).elementsEqual(keyBytes) { return false }
        }
        spans.append(key)
        if spans.count > 16 {
            hashed = Set(spans.map { Array(UnsafeBufferPointer(rebasing: bytes[$0.start..<$0.end])) })
            spans = []
        }
        return true
    }
}
