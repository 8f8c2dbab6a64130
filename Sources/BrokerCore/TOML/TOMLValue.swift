// The value model produced by `TOMLReader`: plain immutable values, no Foundation.

/// A place in a TOML document. Both numbers are 1-based.
///
/// `column` counts Unicode scalars from the start of the line (a tab counts as one, a byte order
/// mark at the start of the file is not counted), so it matches what an editor shows for text
/// without wide characters.
public struct TOMLPosition: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let line: Int
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// The only error `TOMLReader` throws: what is wrong and where.
///
/// Messages name keys (control characters escaped, long keys shortened) but never echo string
/// values, so they are safe to log.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let position: TOMLPosition

    public init(_ message: String, at position: TOMLPosition) {
        self.message = message
        self.position = position
    }

    /// "line 3, column 7: duplicate key 'a'"
    public var description: String { "\(position): \(message)" }
}

/// A TOML value. Tables keep their keys in definition order.
///
/// `==` is the synthesized equality: floats compare as `Double` (so NaN is never equal to itself).
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case offsetDateTime(TOMLDateTime)
    case localDateTime(TOMLDateTime)
    case localDate(TOMLDate)
    case localTime(TOMLTime)
    case array([TOMLValue])
    case table(TOMLTable)

    /// A short name for the kind of value, for validation messages ("expected string, got integer").
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .offsetDateTime: "offset date-time"
        case .localDateTime: "local date-time"
        case .localDate: "local date"
        case .localTime: "local time"
        case .array: "array"
        case .table: "table"
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    public var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var tableValue: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}

/// One key of a table with its value and where the key was written.
///
/// For a table opened by a header (`[a.b]`) the position is that header's key; for a table that
/// only exists because a longer header or dotted key named it, it is where it was first named.
public struct TOMLEntry: Sendable, Equatable {
    public let key: String
    public let value: TOMLValue
    public let position: TOMLPosition

    public init(key: String, value: TOMLValue, position: TOMLPosition) {
        self.key = key
        self.value = value
        self.position = position
    }
}

/// A TOML table: its entries in definition order.
///
/// Keys are compared by their exact UTF-8 bytes, as TOML does (Swift's `String ==` would treat
/// canonically equivalent spellings as one key). Lookups are linear; manifest and config tables are
/// small, and callers that need many lookups over a large table should build their own index.
public struct TOMLTable: Sendable, Equatable {
    public var entries: [TOMLEntry]

    public init(entries: [TOMLEntry] = []) {
        self.entries = entries
    }

    public var keys: [String] { entries.map { $0.key } }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> TOMLValue? { entry(key)?.value }

    public func entry(_ key: String) -> TOMLEntry? {
        entries.first { $0.key.utf8.elementsEqual(key.utf8) }
    }
}
