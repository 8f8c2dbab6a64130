/// A secret set as a user or a sidecar writes it — a JSON object, or `KEY=VALUE` lines —
/// turned into one `push-creds` request line. Values stay bytes: never a `String`, never in
/// an error message; every buffer that held them is zeroed by the caller via `zeroize()`.
public struct SecretSetFile {
    public enum Format: String, Sendable {
        case json, env

        /// JSON when the first non-blank byte is `{`, else KEY=VALUE lines.
        public static func detect(_ bytes: [UInt8]) -> Format {
            let first = bytes.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
            return first == UInt8(ascii: "{") ? .json : .env
        }
    }

    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The request line (`{"op":"push-creds","secrets":{...}}`, no newline).
    public private(set) var request: JSONWriter
    public let secretCount: Int

    public init(_ bytes: [UInt8], format: Format) throws(Invalid) {
        switch format {
        case .json: (request, secretCount) = try SecretSetFile.fromJSON(bytes)
        case .env: (request, secretCount) = try SecretSetFile.fromEnv(bytes)
        }
    }

    public mutating func zeroize() { request.zeroize() }

    private static func startRequest(capacity: Int) -> JSONWriter {
        // Sized for the worst case up front: growing would leave copies of values behind.
        var writer = JSONWriter(reservingCapacity: 64 + 6 * capacity)
        writer.beginObject()
        writer.field("op", "push-creds")
        writer.key("secrets")
        return writer
    }

    private static func fromJSON(_ bytes: [UInt8]) throws(Invalid) -> (JSONWriter, Int) {
        var document: JSONDocument
        do {
            document = try JSONDocument(parsing: bytes)
        } catch {
            throw Invalid(message: "not valid JSON: \(error)")
        }
        defer { document.zeroize() }
        guard case .object(let members) = document.root else {
            throw Invalid(message: "the secret set must be a JSON object of name -> value")
        }
        var writer = startRequest(capacity: bytes.count)
        document.withBuffer { writer.value(document.root, from: $0) }
        writer.endObject()
        return (writer, members.count)
    }

    /// `KEY=VALUE` lines: blank lines and `#` comments skipped, optional `export ` prefix,
    /// values unquoted (trimmed; ` #` starts a comment), 'single-quoted' (literal) or
    /// "double-quoted" (\n \r \t \" \\ \$ escapes). Errors name the line, never the value.
    private static func fromEnv(_ bytes: [UInt8]) throws(Invalid) -> (JSONWriter, Int) {
        var writer = startRequest(capacity: bytes.count)
        writer.beginObject()
        var seen = Set<String>()
        var value: [UInt8] = []
        value.reserveCapacity(bytes.count)
        defer { SecureZero.zero(&value) }
        var lineNumber = 0
        var index = 0
        while index < bytes.count {
            lineNumber += 1
            var end = index
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            var line = bytes[index..<end]
            index = end + 1
            if line.last == 0x0D { line = line.dropLast() }
            line = line.drop { $0 == 0x20 || $0 == 0x09 }
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            if line.starts(with: Array("export ".utf8)) {
                line = line.dropFirst(7).drop { $0 == 0x20 || $0 == 0x09 }
            }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw Invalid(message: "line \(lineNumber): expected KEY=VALUE")
            }
            var keyBytes = line[..<equals]
            while let last = keyBytes.last, last == 0x20 || last == 0x09 { keyBytes = keyBytes.dropLast() }
            guard Names.isSecretName(keyBytes) else {
                throw Invalid(message: "line \(lineNumber): the name must match ^[A-Za-z0-9_]{1,128}$")
            }
            let key = String(decoding: keyBytes, as: UTF8.self)
            guard seen.insert(key).inserted else { throw Invalid(message: "line \(lineNumber): \(key) is set twice") }
            value.removeAll(keepingCapacity: true)
            try parseValue(line[line.index(after: equals)...], into: &value, line: lineNumber, key: key)
            guard value.withUnsafeBufferPointer({ UTF8Validation.isValid($0) }) else {
                throw Invalid(message: "line \(lineNumber): the value of \(key) is not valid UTF-8")
            }
            writer.key(key)
            value.withUnsafeBufferPointer { writer.string(bytes: $0) }
            SecureZero.zero(&value)
        }
        writer.endObject()
        writer.endObject()
        return (writer, seen.count)
    }

    private static func parseValue(_ raw: ArraySlice<UInt8>, into value: inout [UInt8], line: Int, key: String) throws(Invalid) {
        let text = raw.drop { $0 == 0x20 || $0 == 0x09 }
        guard let quote = text.first, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
            // Unquoted: up to an inline comment, trailing blanks trimmed.
            var end = text.startIndex
            while end < text.endIndex {
                if text[end] == UInt8(ascii: "#"), end > text.startIndex, text[end - 1] == 0x20 || text[end - 1] == 0x09 { break }
                end += 1
            }
            var unquoted = text[text.startIndex..<end]
            while let last = unquoted.last, last == 0x20 || last == 0x09 { unquoted = unquoted.dropLast() }
            value.append(contentsOf: unquoted)
            return
        }
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let byte = text[index]
            if byte == quote {
                let rest = text[text.index(after: index)...].drop { $0 == 0x20 || $0 == 0x09 }
                guard rest.isEmpty || rest.first == UInt8(ascii: "#") else {
                    throw Invalid(message: "line \(line): unexpected text after the closing quote of \(key)")
                }
                return
            }
            if quote == UInt8(ascii: "\""), byte == UInt8(ascii: "\\") {
                index += 1
                guard index < text.endIndex else { break }
                switch text[index] {
                case UInt8(ascii: "n"): value.append(0x0A)
                case UInt8(ascii: "r"): value.append(0x0D)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"): value.append(text[index])
                default: throw Invalid(message: "line \(line): unknown escape in the value of \(key)")
                }
            } else {
                value.append(byte)
            }
            index += 1
        }
        throw Invalid(message: "line \(line): the quoted value of \(key) is not closed")
    }
}
