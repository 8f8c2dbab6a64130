import BrokerClient
import BrokerCore

/// A parsed JSON value as plain Swift values, for inspecting replies and audit lines in tests
/// and harnesses. Not for the daemon: strings here are ordinary `String`s.
///
/// `description` renders JSON with every string that carries a test secret marker
/// (`SecretMarker.prefix`) redacted, so a failing `#expect` never prints a secret value.
public indirect enum JSONTree: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// The number as written (integers compare exactly; see `int` / `double`).
    case number(String)
    case string(String)
    case array([JSONTree])
    case object([Member])

    public struct Member: Equatable, Sendable {
        public let key: String
        public let value: JSONTree

        public init(_ key: String, _ value: JSONTree) {
            self.key = key
            self.value = value
        }
    }

    /// Parses `bytes` strictly (RFC 8259; duplicate keys rejected).
    public init(parsing bytes: [UInt8]) throws(JSONError) {
        let document = try JSONDocument(parsing: bytes, options: JSONReader.Options(rejectDuplicateKeys: true))
        self = JSONTree(document.root, in: document)
    }

    public init(parsing text: String) throws(JSONError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// The reply's document as a tree.
    public init(_ reply: Reply) {
        self = JSONTree(reply.document.root, in: reply.document)
    }

    private init(_ value: JSONValue, in document: JSONDocument) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let number): self = .number(document.string(number.text))
        case .string(let span): self = .string(document.string(span))
        case .array(let items): self = .array(items.map { JSONTree($0, in: document) })
        case .object(let members):
            self = .object(members.map { Member(document.string($0.key), JSONTree($0.value, in: document)) })
        }
    }

    // MARK: access

    public subscript(key: String) -> JSONTree? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public subscript(index: Int) -> JSONTree? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value when it is an integer literal (no fraction, no exponent) that fits in `Int`.
    public var int: Int? {
        guard case .number(let text) = self, !text.contains("."), !text.contains("e"), !text.contains("E") else { return nil }
        return Int(text)
    }

    public var double: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    public var array: [JSONTree]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Keys of an object, in document order.
    public var keys: [String]? {
        if case .object(let members) = self { return members.map(\.key) }
        return nil
    }

    /// Strings of an array of strings (nil if any item is not a string).
    public var strings: [String]? {
        guard let items = array else { return nil }
        let texts = items.compactMap(\.string)
        return texts.count == items.count ? texts : nil
    }

    // MARK: rendering

    public var description: String {
        var out = ""
        render(into: &out)
        return out
    }

    private func render(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let text): out += text
        case .string(let text):
            var writer = JSONWriter()
            writer.string(SecretMarker.redacted(text))
            out += String(decoding: writer.bytes, as: UTF8.self)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.render(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                JSONTree.string(member.key).render(into: &out)
                out += ":"
                member.value.render(into: &out)
            }
            out += "}"
        }
    }
}

extension Reply {
    /// The reply as a `JSONTree` (its description redacts test secret values).
    public var tree: JSONTree { JSONTree(self) }

    /// The raw reply text with test secret values redacted, for failure messages.
    public var redactedText: String { SecretMarker.redacted(text) }
}
