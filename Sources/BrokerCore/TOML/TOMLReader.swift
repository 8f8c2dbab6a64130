// Strict TOML 1.0 reader over bytes (https://toml.io/en/v1.0.0). No Foundation.
//
// Shape: one pass over `[UInt8]` with an index (`TOMLReader.Parser`). Scalars and inline
// containers are parsed straight into `TOMLValue`s; tables that headers and dotted keys keep
// adding to live in a `TOMLTableTree` (an index-addressed arena that enforces TOML's
// redefinition rules) and become a `TOMLTable` at the end.
//
// Hostile-input guarantees: the input is UTF-8-validated before parsing; every byte access is
// bounds-checked through `byte(at:)`; integer arithmetic on input reports overflow instead of
// trapping; every loop consumes input or throws; recursion only happens for nested arrays and
// inline tables and is cut off at `maxNestingDepth`, which also bounds how deep headers and dotted
// keys may nest tables (so converting and destroying the result cannot recurse deeply either).
// Memory use is linear in the input size.

public enum TOMLReader {
    /// The deepest nesting of tables and arrays a document may have. The root table is depth 0;
    /// every table or array inside another adds one (an array of tables adds two: the array and
    /// its element). Anything deeper is rejected with a `TOMLError` rather than risking the stack.
    public static let maxNestingDepth: Int = 128

    /// Parses a complete TOML 1.0 document. A leading UTF-8 byte order mark is ignored.
    public static func parse(_ bytes: [UInt8]) throws(TOMLError) -> TOMLTable {
        var parser = Parser(bytes: bytes)
        return try parser.parseDocument()
    }

    /// Parses a complete TOML 1.0 document held in a `String`.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        try parse(Array(text.utf8))
    }
}

/// One component of a (possibly dotted) key, as written.
struct TOMLKeyPart {
    /// The key's UTF-8 bytes: TOML compares keys byte for byte.
    let bytes: [UInt8]
    let name: String
    let position: TOMLPosition
}

extension TOMLReader {
    struct Parser {
        let bytes: [UInt8]
        /// The next byte to read.
        var index = 0
        /// Where the text starts (after a byte order mark); line 1, column 1.
        var bodyStart = 0
        var locator = Locator(index: 0, line: 1, column: 1)
        var document = TOMLTableTree(rootDepth: 0)
        /// The table that key/value lines currently go into, and the number of the `[header]`
        /// that opened it (0 before the first header). Dotted keys may only extend tables that
        /// were created by dotted keys under the same header.
        var currentTable = TOMLTableTree.root
        var currentSection = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        // MARK: Cursor

        /// The byte at `i`, or 0 past the end. The input is checked for NUL bytes before parsing
        /// (`validateInput`), so 0 here always means "end of input".
        @inline(__always)
        func byte(at i: Int) -> UInt8 {
            i >= 0 && i < bytes.count ? bytes[i] : 0
        }

        @inline(__always)
        func peek(_ offset: Int = 0) -> UInt8 { byte(at: index + offset) }

        var isAtEnd: Bool { index >= bytes.count }

        mutating func skipSpaces() {
            while peek() == TOMLByte.space || peek() == TOMLByte.tab { index += 1 }
        }

        /// Skips spaces, tabs, newlines and comments: what may sit between array elements.
        mutating func skipBlankLinesAndComments() throws(TOMLError) {
            while true {
                switch peek() {
                case TOMLByte.space, TOMLByte.tab: index += 1
                case TOMLByte.newline, TOMLByte.carriageReturn: try consumeNewline()
                case TOMLByte.hash: try skipComment()
                default: return
                }
            }
        }

        /// Consumes LF or CRLF at the cursor; a CR not followed by LF is an error.
        mutating func consumeNewline() throws(TOMLError) {
            if peek() == TOMLByte.newline {
                index += 1
            } else if peek() == TOMLByte.carriageReturn && peek(1) == TOMLByte.newline {
                index += 2
            } else {
                throw failure("carriage return must be followed by a line feed", at: index)
            }
        }

        /// Skips a comment from its `#` up to (not including) the line ending.
        mutating func skipComment() throws(TOMLError) {
            index += 1
            while !isAtEnd {
                let b = bytes[index]
                if b == TOMLByte.newline || b == TOMLByte.carriageReturn { return }
                if TOMLByte.isControlCharacter(b) {
                    throw failure("control character \(TOMLText.scalarName(b)) is not allowed in a comment", at: index)
                }
                index += 1
            }
        }

        /// After a header or key/value pair: optional spaces and comment, then a line ending or EOF.
        mutating func expectLineEnd(after what: String) throws(TOMLError) {
            skipSpaces()
            if peek() == TOMLByte.hash { try skipComment() }
            if isAtEnd { return }
            if peek() == TOMLByte.newline || peek() == TOMLByte.carriageReturn {
                try consumeNewline()
                return
            }
            throw unexpected("expected a line ending after \(what)")
        }

        // MARK: Document

        mutating func parseDocument() throws(TOMLError) -> TOMLTable {
            try validateInput()
            while true {
                skipSpaces()
                if isAtEnd { break }
                switch peek() {
                case TOMLByte.hash:
                    try skipComment()
                    try expectLineEnd(after: "a comment")
                case TOMLByte.newline, TOMLByte.carriageReturn:
                    try consumeNewline()
                case TOMLByte.leftBracket:
                    try parseHeader()
                    try expectLineEnd(after: "a table header")
                default:
                    let depth = document.depth(of: currentTable)
                    let (key, value) = try parseKeyValue(tableDepth: depth)
                    try document.insert(key, value: value, into: currentTable, section: currentSection)
                    try expectLineEnd(after: "a key/value pair")
                }
            }
            return document.makeTable(TOMLTableTree.root)
        }

        /// `[a.b]` or `[[a.b]]`: opens the table that the following key/value lines go into.
        mutating func parseHeader() throws(TOMLError) {
            let isArrayOfTables = peek(1) == TOMLByte.leftBracket
            index += isArrayOfTables ? 2 : 1
            let key = try parseKey()
            guard peek() == TOMLByte.rightBracket else {
                throw unexpected("expected ']' to close the table header")
            }
            index += 1
            if isArrayOfTables {
                guard peek() == TOMLByte.rightBracket else {
                    throw failure("expected ']]' to close the array-of-tables header", at: index)
                }
                index += 1
            }
            currentSection += 1
            currentTable = try document.openTable(key, asArrayElement: isArrayOfTables)
        }

        // MARK: Keys

        /// `key = value` up to the end of the value. `tableDepth` is the depth of the table the
        /// pair goes into; the value's own depth follows from it and the number of key parts.
        mutating func parseKeyValue(tableDepth: Int) throws(TOMLError) -> ([TOMLKeyPart], TOMLValue) {
            let key = try parseKey()
            guard peek() == TOMLByte.equals else { throw unexpected("expected '=' after a key") }
            index += 1
            skipSpaces()
            let value = try parseValue(depth: tableDepth + key.count)
            return (key, value)
        }

        /// A simple or dotted key, with the spaces around it and around its dots.
        mutating func parseKey() throws(TOMLError) -> [TOMLKeyPart] {
            var parts: [TOMLKeyPart] = []
            while true {
                skipSpaces()
                if parts.count == TOMLReader.maxNestingDepth {
                    throw failure("a key has more than \(TOMLReader.maxNestingDepth) dotted parts", at: index)
                }
                parts.append(try parseSimpleKey())
                skipSpaces()
                guard peek() == TOMLByte.dot else { return parts }
                index += 1
            }
        }

        mutating func parseSimpleKey() throws(TOMLError) -> TOMLKeyPart {
            let start = index
            let position = self.position(at: start)
            let keyBytes: [UInt8]
            switch peek() {
            case TOMLByte.quote:
                if peek(1) == TOMLByte.quote && peek(2) == TOMLByte.quote {
                    throw failure("a multi-line string cannot be a key", at: start)
                }
                keyBytes = try parseBasicString()
            case TOMLByte.apostrophe:
                if peek(1) == TOMLByte.apostrophe && peek(2) == TOMLByte.apostrophe {
                    throw failure("a multi-line string cannot be a key", at: start)
                }
                keyBytes = try parseLiteralString()
            default:
                while TOMLByte.isBareKeyByte(peek()) { index += 1 }
                guard index > start else {
                    throw failure("expected a key, found \(describeByte(at: start))", at: start)
                }
                keyBytes = Array(bytes[start..<index])
            }
            return TOMLKeyPart(bytes: keyBytes, name: String(decoding: keyBytes, as: UTF8.self), position: position)
        }

        // MARK: Values
        //
        // parseValue -> parseArray / parseInlineTable -> parseValue is the only recursion, so
        // those three keep small stack frames: scalars and every error message are built in
        // separate non-inlined functions. Measured: 128 levels of inline tables need about
        // 110 KiB of stack in a release build and 450 KiB in a debug build.

        /// Any value. `depth` is the nesting depth the value has if it is an array or inline table.
        mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLValue {
            switch peek() {
            case TOMLByte.leftBracket: return try parseArray(depth: depth)
            case TOMLByte.leftBrace: return try parseInlineTable(depth: depth)
            default: return try parseScalar()
            }
        }

        @inline(never)
        mutating func parseScalar() throws(TOMLError) -> TOMLValue {
            let start = index
            let value: TOMLValue
            switch peek() {
            case TOMLByte.quote, TOMLByte.apostrophe:
                value = try parseString()
            case UInt8(ascii: "t"):
                value = try parseWord("true", as: .boolean(true))
            case UInt8(ascii: "f"):
                value = try parseWord("false", as: .boolean(false))
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = try parseNumberOrDateTime()
            case TOMLByte.plus, TOMLByte.minus, UInt8(ascii: "i"), UInt8(ascii: "n"):
                value = try parseNumber()
            default:
                if isAtEnd || peek() == TOMLByte.newline || peek() == TOMLByte.carriageReturn {
                    throw failure("expected a value", at: start)
                }
                throw failure("invalid value starting with \(describeByte(at: start))", at: start)
            }
            // A scalar must end at a delimiter: catches `truex`, `1979-05-27T07:32:00Zjunk`, `1.2.3`.
            switch peek() {
            case 0, TOMLByte.space, TOMLByte.tab, TOMLByte.newline, TOMLByte.carriageReturn, TOMLByte.hash,
                 TOMLByte.comma, TOMLByte.rightBracket, TOMLByte.rightBrace:
                return value
            default:
                throw failure("invalid \(value.typeName): unexpected \(describeByte(at: index))", at: index)
            }
        }

        mutating func parseWord(_ word: String, as value: TOMLValue) throws(TOMLError) -> TOMLValue {
            let start = index
            for expected in word.utf8 {
                guard peek() == expected else {
                    throw failure("invalid value starting with \(describeByte(at: start))", at: start)
                }
                index += 1
            }
            return value
        }

        /// `[ v, v, ... ]`; newlines, comments and one trailing comma are allowed inside.
        mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLValue {
            let start = index
            try checkDepth(depth, at: start)
            index += 1
            var elements: [TOMLValue] = []
            while true {
                try skipBlankLinesAndComments()
                if peek() == TOMLByte.rightBracket {
                    index += 1
                    return .array(elements)
                }
                if isAtEnd { throw arrayError(start: start) }
                elements.append(try parseValue(depth: depth + 1))
                try skipBlankLinesAndComments()
                switch peek() {
                case TOMLByte.comma:
                    index += 1
                case TOMLByte.rightBracket:
                    index += 1
                    return .array(elements)
                default:
                    throw arrayError(start: start)
                }
            }
        }

        @inline(never)
        func arrayError(start: Int) -> TOMLError {
            if isAtEnd { return failure("unterminated array", at: start) }
            return unexpected("expected ',' or ']' in an array")
        }

        /// `{ k = v, ... }` on one line, no trailing comma (TOML 1.0). Complete once closed.
        mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
            let start = index
            try checkDepth(depth, at: start)
            index += 1
            var tree = TOMLTableTree(rootDepth: depth)
            skipSpaces()
            if peek() == TOMLByte.rightBrace {
                index += 1
                return .table(TOMLTable())
            }
            while true {
                skipSpaces()
                if let error = inlineTableError(start: start, expectingKey: true) { throw error }
                let (key, value) = try parseKeyValue(tableDepth: depth)
                // Every key of an inline table is defined in one go, so all share one section.
                try tree.insert(key, value: value, into: TOMLTableTree.root, section: 0)
                skipSpaces()
                switch peek() {
                case TOMLByte.comma:
                    index += 1
                case TOMLByte.rightBrace:
                    index += 1
                    return .table(tree.makeTable(TOMLTableTree.root))
                default:
                    throw inlineTableError(start: start, expectingKey: false)
                        ?? unexpected("expected ',' or '}' in an inline table")
                }
            }
        }

        /// What is wrong at the cursor inside an inline table, if it is something other than a
        /// bad key or value: the end of input, a line break or comment, or (before a key) a '}'
        /// right after a comma.
        @inline(never)
        func inlineTableError(start: Int, expectingKey: Bool) -> TOMLError? {
            if isAtEnd { return failure("unterminated inline table", at: start) }
            switch peek() {
            case TOMLByte.newline, TOMLByte.carriageReturn, TOMLByte.hash:
                return failure("an inline table must be on one line", at: index)
            case TOMLByte.rightBrace where expectingKey:
                return failure("trailing comma is not allowed in an inline table", at: index)
            default:
                return nil
            }
        }

        /// "<expectation>, found <what is at the cursor>" at the cursor.
        @inline(never)
        func unexpected(_ expectation: String) -> TOMLError {
            failure("\(expectation), found \(describeByte(at: index))", at: index)
        }

        @inline(never)
        func checkDepth(_ depth: Int, at start: Int) throws(TOMLError) {
            if depth > TOMLReader.maxNestingDepth {
                throw failure("arrays and tables nested deeper than \(TOMLReader.maxNestingDepth) levels", at: start)
            }
        }
    }
}
