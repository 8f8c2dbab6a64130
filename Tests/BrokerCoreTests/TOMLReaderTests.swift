import BrokerCore
import Testing

@Suite struct TOMLReaderTests {
    private func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        try TOMLReader.parse(text)
    }

    /// The error `text` is rejected with, or nil if it parses.
    private func parseError(_ text: String) -> TOMLError? {
        parseError(Array(text.utf8))
    }

    private func parseError(_ bytes: [UInt8]) -> TOMLError? {
        do {
            _ = try TOMLReader.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Error positions

    @Test func duplicateKeyReportsLineAndColumn() {
        let error = parseError("a = 1\nb = 2\na = 3\n")
        #expect(error == TOMLError("duplicate key 'a'", at: TOMLPosition(line: 3, column: 1)))
        #expect(error?.description == "line 3, column 1: duplicate key 'a'")
    }

    @Test func unknownEscapeReportsTheBackslash() {
        let error = parseError("x = 1\ns = \"ab\\qc\"\n")
        #expect(error?.message == "invalid escape \\q in string")
        #expect(error?.position == TOMLPosition(line: 2, column: 8))
    }

    @Test func badDateReportsTheValue() {
        let error = parseError("ok = 2024-02-29\nd = 2023-02-29\n")
        #expect(error?.position == TOMLPosition(line: 2, column: 5))
        #expect(error?.message.contains("day 29") == true)
    }

    @Test func columnsCountUnicodeScalars() {
        // k=1 ' '=2 '='=3 ' '=4 '"'=5 😀=6 é=7 '"'=8 ' '=9 x=10, though 😀 is 4 bytes and é 2.
        let error = parseError("\"é\" = 1\nk = \"😀é\" x\n")
        #expect(error?.position == TOMLPosition(line: 2, column: 10))
    }

    @Test func crlfCountsAsOneLineBreak() {
        #expect(parseError("a = 1\r\nb = 2\r\na = 3\r\n")?.position == TOMLPosition(line: 3, column: 1))
        #expect(parseError("a = 1\rb = 2")?.message == "carriage return must be followed by a line feed")
    }

    @Test func byteOrderMarkIsNotAColumn() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        #expect(parseError(bom + Array("a = 1\na = 2".utf8))?.position == TOMLPosition(line: 2, column: 1))
        #expect(parseError(bom + Array("a = ?".utf8))?.position == TOMLPosition(line: 1, column: 5))
    }

    @Test func invalidUTF8IsRejectedWhereItStarts() {
        let error = parseError(Array("a = \"x".utf8) + [0xC3, 0x28] + Array("\"".utf8))
        #expect(error?.message == "invalid UTF-8 byte 0xC3")
        #expect(error?.position == TOMLPosition(line: 1, column: 7))
        // Overlong encoding and an encoded surrogate.
        #expect(parseError(Array("a = \"".utf8) + [0xC0, 0xAF] + Array("\"".utf8)) != nil)
        #expect(parseError(Array("a = \"".utf8) + [0xED, 0xA0, 0x80] + Array("\"".utf8)) != nil)
    }

    // MARK: Entry positions

    @Test func entryPositionsPointAtKeys() throws {
        let table = try parse("""
            [server]
              host = "x"
              port.number = 8080
            [[items]]
            name = "a"
            t = { "é" = 1, "ключ" = 2 }
            """)
        #expect(table.entry("server")?.position == TOMLPosition(line: 1, column: 2))
        let server = try #require(table["server"]?.tableValue)
        #expect(server.entry("host")?.position == TOMLPosition(line: 2, column: 3))
        #expect(server.entry("port")?.position == TOMLPosition(line: 3, column: 3))
        #expect(server["port"]?.tableValue?.entry("number")?.position == TOMLPosition(line: 3, column: 8))
        #expect(table.entry("items")?.position == TOMLPosition(line: 4, column: 3))
        let item = try #require(table["items"]?.arrayValue?.first?.tableValue)
        #expect(item.entry("name")?.position == TOMLPosition(line: 5, column: 1))
        #expect(item["t"]?.tableValue?.entry("ключ")?.position == TOMLPosition(line: 6, column: 16))
    }

    @Test func implicitTableTakesThePositionOfItsHeader() throws {
        let table = try parse("[a.b]\nx = 1\n[a]\ny = 2\n")
        #expect(table.entry("a")?.position == TOMLPosition(line: 3, column: 2))
        #expect(table["a"]?.tableValue?.keys == ["b", "y"])
    }

    // MARK: Limits

    @Test func deepArrayIsAnErrorNotACrash() {
        let error = parseError("a = " + String(repeating: "[", count: 100_000))
        #expect(error?.message.contains("nested deeper than \(TOMLReader.maxNestingDepth)") == true)
        #expect(error?.position == TOMLPosition(line: 1, column: 5 + TOMLReader.maxNestingDepth))
    }

    @Test func deepInlineTableIsAnErrorNotACrash() {
        let error = parseError("a = " + String(repeating: "{b = ", count: 100_000))
        #expect(error?.message.contains("nested deeper than \(TOMLReader.maxNestingDepth)") == true)
    }

    @Test func deepHeadersAndDottedKeysAreErrors() {
        let path = Array(repeating: "a", count: 100_000).joined(separator: ".")
        #expect(parseError("[\(path)]") != nil)
        #expect(parseError("\(path) = 1") != nil)
        // An array of tables counts twice (array, then element): 1 + 1 + 127 tables is one too deep.
        let underArray = Array(repeating: "a", count: 128).joined(separator: ".")
        #expect(parseError("[[a]]\n[\(underArray)]")?.message == "tables nested deeper than \(TOMLReader.maxNestingDepth) levels")
        #expect(parseError("[\(underArray)]") == nil)
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let limit = TOMLReader.maxNestingDepth
        // `a` is at depth 1, so `limit` arrays fit and one more does not.
        _ = try parse("a = " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        #expect(parseError("a = " + String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)) != nil)
    }

    @Test func tenMebibyteStringParses() throws {
        let size = 10 << 20
        let table = try parse("a = \"" + String(repeating: "x", count: size) + "\"\n")
        #expect(table["a"]?.stringValue?.utf8.count == size)
    }

    // MARK: Documents

    @Test func specManifestParses() throws {
        let manifest = try parse(#"""
            schema_version = 1
            project        = "project-a"        # == basename of project_path, ^[a-z0-9][a-z0-9_-]{0,63}$

            [secrets.gh]
            fetch_as = "env"                    # "env" (default) | "file"
            env_var  = "GH_TOKEN"               # optional, default: the name upper-cased

            [secrets.openai_api_key]            # all defaults: env var OPENAI_API_KEY

            [secrets.aws]
            fetch_as  = "file"
            file_path = "~/.aws/credentials"   # required for file; absolute or ~/...
            file_mode = "0600"                  # required for file; four-digit octal, no group/other write bit
            template  = """
            [default]
            aws_access_key_id={{aws_access_key_id}}
            aws_secret_access_key={{aws_secret_access_key}}
            """                                  # required for file; {{field}} for bundles, {{value}} for scalars

            [cache]                             # optional; may only lower the broker-wide defaults (higher: manifest_invalid)
            default_ttl_seconds = 900           # 1..86400
            default_max_entries = 50            # 1..1024
            """#)
        #expect(manifest.keys == ["schema_version", "project", "secrets", "cache"])
        #expect(manifest["schema_version"] == .integer(1))
        #expect(manifest["project"] == .string("project-a"))
        let secrets = try #require(manifest["secrets"]?.tableValue)
        #expect(secrets.keys == ["gh", "openai_api_key", "aws"])
        #expect(secrets["gh"]?.tableValue?["env_var"] == .string("GH_TOKEN"))
        #expect(secrets["openai_api_key"] == .table(TOMLTable()))
        let aws = try #require(secrets["aws"]?.tableValue)
        #expect(aws["template"] == .string("[default]\naws_access_key_id={{aws_access_key_id}}\naws_secret_access_key={{aws_secret_access_key}}\n"))
        #expect(aws.entry("file_mode")?.position == TOMLPosition(line: 13, column: 1))
        #expect(manifest["cache"]?.tableValue?["default_max_entries"] == .integer(50))
    }

    // MARK: Tricky cases

    @Test func integerLimits() throws {
        let table = try parse("max = 9_223_372_036_854_775_807\nmin = -9223372036854775808\nhex = 0x7FFF_FFFF_FFFF_FFFF\nbin = 0b1_0\n")
        #expect(table["max"] == .integer(.max))
        #expect(table["min"] == .integer(.min))
        #expect(table["hex"] == .integer(.max))
        #expect(table["bin"] == .integer(2))
        #expect(parseError("a = 9223372036854775808")?.message == "integer does not fit in 64 bits")
        #expect(parseError("a = -9223372036854775809")?.message == "integer does not fit in 64 bits")
        #expect(parseError("a = 0x8000000000000000")?.message == "integer does not fit in 64 bits")
        #expect(parseError("a = 0x1_0000_0000_0000_0000_0000") != nil)
        #expect(parseError("a = 012") != nil)
        #expect(parseError("a = -0x1") != nil)
    }

    @Test func floats() throws {
        let table = try parse("a = -0.0\nb = 6.626e-34\nc = -inf\nd = nan\ne = 1_000.5E+1_0\n")
        #expect(table["a"] == .float(0))
        #expect(table["b"] == .float(6.626e-34))
        #expect(table["c"] == .float(-.infinity))
        if case .float(let value)? = table["d"] { #expect(value.isNaN) } else { Issue.record("nan is not a float") }
        #expect(table["e"] == .float(1000.5e10))
        #expect(parseError("a = 1e400")?.message == "float is out of range for a 64-bit float")
        #expect(parseError("a = 1.") != nil)
        #expect(parseError("a = .5") != nil)
        #expect(parseError("a = 1.5_") != nil)
    }

    @Test func datesAndTimes() throws {
        let table = try parse("""
            odt = 1979-05-27 07:32:00.5-07:00
            utc = 1979-05-27t07:32:00z
            ldt = 1979-05-27T00:32:00.999999999999
            ld = 2000-02-29
            lt = 23:59:60
            """)
        let odt = TOMLDateTime(date: TOMLDate(year: 1979, month: 5, day: 27), time: TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 500_000_000), offsetMinutes: -420)
        #expect(table["odt"] == .offsetDateTime(odt))
        #expect(odt.description == "1979-05-27T07:32:00.5-07:00")
        guard case .offsetDateTime(let utc)? = table["utc"] else { Issue.record("utc"); return }
        #expect(utc.description == "1979-05-27T07:32:00Z")
        // Digits past nanoseconds are truncated, never rounded up into the next second.
        guard case .localDateTime(let ldt)? = table["ldt"] else { Issue.record("ldt"); return }
        #expect(ldt.time.nanosecond == 999_999_999)
        #expect(ldt.description == "1979-05-27T00:32:00.999999999")
        #expect(table["ld"] == .localDate(TOMLDate(year: 2000, month: 2, day: 29)))
        #expect(table["lt"]?.typeName == "local time")
        #expect(parseError("d = 1900-02-29") != nil)
        #expect(parseError("d = 2023-04-31") != nil)
        #expect(parseError("d = 1979-05-27T07:32") != nil)
        #expect(parseError("d = 1979-05-27T24:00:00") != nil)
        #expect(parseError("d = 1979-05-27T07:32:00+24:00") != nil)
    }

    @Test func multilineStrings() throws {
        let table = try parse("a = \"\"\"\r\nx\r\ny\"\"\"\"\nb = '''\nq''''' \nc = \"\"\"one \\\n   \n  two\"\"\"\n")
        #expect(table["a"] == .string("x\ny\""))  // CRLF normalized; the 4th quote is content
        #expect(table["b"] == .string("q''"))
        #expect(table["c"] == .string("one two"))
        #expect(parseError("a = \"\"\"x\"\"\"\"\"\"") != nil)
        #expect(parseError("a = \"\"\"x \\ y\"\"\"") != nil)
    }

    @Test func tableRedefinitionRules() throws {
        _ = try parse("[a.b.c]\n[a]\n[a.b]\n")               // implicit tables may be defined later, once
        _ = try parse("[fruit]\napple.color = 1\n[fruit.apple.texture]\n")
        #expect(parseError("[a]\n[a]") != nil)
        #expect(parseError("[a]\nb.c = 1\n[a.b]") != nil)        // defined by dotted keys
        #expect(parseError("[a.b]\n[a]\nb.c = 1") != nil)        // defined by a header
        #expect(parseError("a = {}\n[a.b]") != nil)              // inline tables are complete
        #expect(parseError("a = {b = {}}\na.b.c = 1") != nil)
        #expect(parseError("a = []\n[[a]]") != nil)              // a plain array is not an array of tables
        #expect(parseError("[[a]]\n[a]") != nil)
        #expect(parseError("a = {x = 1,}") != nil)
        #expect(parseError("a = {x = 1\n}") != nil)
    }

    @Test func keysAreComparedByBytes() throws {
        // Canonically equivalent (é precomposed vs e + combining accent) but different keys.
        let table = try parse("\"\\u00e9\" = 1\n\"e\\u0301\" = 2\n")
        #expect(table.count == 2)
        #expect(table["e\u{301}"] == .integer(2))
    }

    @Test func hostileKeysAreEscapedInMessages() {
        let error = parseError("\"a\\u0000\\u001b[31m\" = 1\n\"a\\u0000\\u001b[31m\" = 2\n")
        #expect(error?.message == "duplicate key '\"a\\u0000\\u001B[31m\"'")
        let long = String(repeating: "k", count: 10_000)
        #expect((parseError("\(long) = 1\n\(long) = 2")?.message.count ?? .max) < 120)
    }

    @Test func stringsNeverEchoValues() {
        // Messages name keys and offending characters, never the value around them.
        let error = parseError("token = \"ghp_secret\u{7}\"")
        #expect(error?.message == "control character U+0007 must be escaped in a string")
    }
}
