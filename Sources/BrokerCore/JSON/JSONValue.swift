// The parsed form of a JSON text. Strings and numbers are spans into the buffer that was
// parsed, so a secret value never has to become a Swift `String`: the caller copies the
// span's bytes where they belong (the secret arena) and zeroes the buffer.

/// A byte range inside the parsed buffer. For strings it covers the *decoded* UTF-8 bytes
/// (escapes were resolved in place); for numbers it covers the number's text.
public struct JSONSpan: Hashable, Sendable {
    public let start: Int
    public let count: Int

    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }

    public var end: Int { start + count }
}

/// A number as written. `isInteger` is true when it has neither fraction nor exponent;
/// the value is read on demand (`JSONBuffer.int64`, `JSONBuffer.double`) so no precision
/// is lost before the caller decides what it needs.
public struct JSONNumber: Equatable, Sendable {
    public let text: JSONSpan
    public let isInteger: Bool
}

public struct JSONMember: Equatable, Sendable {
    public let key: JSONSpan
    public let value: JSONValue
}

public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(JSONSpan)
    case array([JSONValue])
    case object([JSONMember])

    /// A short name for the kind of value, for error messages ("expected a string, got array").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case unexpectedEnd
        case unexpectedByte
        case invalidUTF8
        case invalidEscape
        case unpairedSurrogate
        case controlCharacterInString
        case invalidNumber
        case tooDeep(limit: Int)
        case duplicateKey
        case trailingData
    }

    public let kind: Kind
    /// Byte offset into the input. Messages name offsets, never input bytes: the input may
    /// carry secrets.
    public let offset: Int

    public var description: String {
        let what: String
        switch kind {
        case .unexpectedEnd: what = "unexpected end of input"
        case .unexpectedByte: what = "unexpected character"
        case .invalidUTF8: what = "invalid UTF-8"
        case .invalidEscape: what = "invalid escape sequence"
        case .unpairedSurrogate: what = "unpaired UTF-16 surrogate in \\u escape"
        case .controlCharacterInString: what = "unescaped control character in string"
        case .invalidNumber: what = "invalid number"
        case .tooDeep(let limit): what = "nesting deeper than \(limit) levels"
        case .duplicateKey: what = "duplicate object key"
        case .trailingData: what = "data after the JSON value"
        }
        return "\(what) at byte \(offset)"
    }
}
