@testable import BrokerCore
import Testing

/// `push --format env|json` parsing: a secret set file into one push-creds request line.
/// Values are markers; tests compare them as Bools and check that no error carries one.
@Suite struct SecretSetFileTests {
    static let marker = "REMO_TEST_MARKER_"

    /// What the request line carries: name -> scalar value (bundles as "{field=value,...}").
    static func secrets(_ text: String, format: SecretSetFile.Format = .env) throws -> [String: String] {
        try secrets(Array(text.utf8), format: format)
    }

    static func secrets(_ bytes: [UInt8], format: SecretSetFile.Format) throws -> [String: String] {
        var set = try SecretSetFile(bytes, format: format)
        defer { set.zeroize() }
        let document = try JSONDocument(parsing: set.request.bytes)
        #expect(document["op"].map { if case .string(let span) = $0 { document.string(span) } else { "" } } == "push-creds")
        guard case .object(let members)? = document["secrets"] else {
            Issue.record("no secrets object")
            return [:]
        }
        var result: [String: String] = [:]
        for member in members {
            switch member.value {
            case .string(let span): result[document.string(member.key)] = document.string(span)
            case .object(let fields):
                result[document.string(member.key)] = "{" + fields.map { field -> String in
                    guard case .string(let span) = field.value else { return "?" }
                    return document.string(field.key) + "=" + document.string(span)
                }.joined(separator: ",") + "}"
            default: Issue.record("unexpected value kind")
            }
        }
        #expect(set.secretCount == result.count)
        return result
    }

    /// The error for `text`, checked to name no value.
    static func failure(_ text: String, format: SecretSetFile.Format = .env) -> String? {
        failure(Array(text.utf8), format: format)
    }

    static func failure(_ bytes: [UInt8], format: SecretSetFile.Format) -> String? {
        do {
            var set = try SecretSetFile(bytes, format: format)
            set.zeroize()
            return nil
        } catch {
            #expect(!error.message.contains(marker), "an error message carries a value")
            return error.message
        }
    }

    @Test func commentsBlankLinesExportAndWhitespace() throws {
        let parsed = try Self.secrets("""
            # a comment

               # an indented comment
            export GH=REMO_TEST_MARKER_gh
            export    SPACED=REMO_TEST_MARKER_spaced
            \tTABBED = REMO_TEST_MARKER_tabbed\t
            EMPTY=
            EQUALS=REMO_TEST_MARKER_a=b==c
            """)
        let expected = ["GH": "REMO_TEST_MARKER_gh", "SPACED": "REMO_TEST_MARKER_spaced", "TABBED": "REMO_TEST_MARKER_tabbed",
                        "EMPTY": "", "EQUALS": "REMO_TEST_MARKER_a=b==c"]
        let same = parsed == expected
        #expect(same)
    }

    @Test func inlineCommentsNeedABlankBeforeTheHash() throws {
        let parsed = try Self.secrets("""
            A=REMO_TEST_MARKER_a # the a token
            B=REMO_TEST_MARKER_b#not-a-comment
            C="REMO_TEST_MARKER_c # inside quotes" # outside
            D='REMO_TEST_MARKER_d'\t# after a tab
            """)
        let same = parsed == ["A": "REMO_TEST_MARKER_a", "B": "REMO_TEST_MARKER_b#not-a-comment",
                              "C": "REMO_TEST_MARKER_c # inside quotes", "D": "REMO_TEST_MARKER_d"]
        #expect(same)
    }

    @Test func quotesAndEscapes() throws {
        let parsed = try Self.secrets(#"""
            DOUBLE="REMO_TEST_MARKER_\n\r\t\"\\\$HOME"
            SINGLE='REMO_TEST_MARKER_\n $HOME "x"'
            EMPTY_DOUBLE=""
            EMPTY_SINGLE=''
            UNICODE="REMO_TEST_MARKER_é✓"
            """#)
        let same = parsed == ["DOUBLE": "REMO_TEST_MARKER_\n\r\t\"\\$HOME", "SINGLE": #"REMO_TEST_MARKER_\n $HOME "x""#,
                              "EMPTY_DOUBLE": "", "EMPTY_SINGLE": "", "UNICODE": "REMO_TEST_MARKER_é✓"]
        #expect(same)
    }

    /// The example in docs/client-tools.md parses the way the comments there say.
    @Test func theDocumentedExample() throws {
        let parsed = try Self.secrets(#"""
            # comments and blank lines are skipped
            export GH_TOKEN=ghp_abc          # `export ` is allowed; a blank then # starts a comment
            NPM_TOKEN = npm_abc#kept         # blanks around = are trimmed; # without a blank before it is kept
            SINGLE='literal \n $HOME'        # single quotes: taken as written
            DOUBLE="line\nnext \"q\" \\ \$"  # double quotes: \n \r \t \" \\ \$ escapes
            EMPTY=
            """#)
        #expect(parsed == ["GH_TOKEN": "ghp_abc", "NPM_TOKEN": "npm_abc#kept", "SINGLE": #"literal \n $HOME"#,
                           "DOUBLE": "line\nnext \"q\" \\ $", "EMPTY": ""])
    }

    @Test func crlfLineEndingsAndNoFinalNewline() throws {
        let parsed = try Self.secrets("A=REMO_TEST_MARKER_a\r\nB=\"REMO_TEST_MARKER_b\"\r\n\r\n# c\r\nC=REMO_TEST_MARKER_c")
        let same = parsed == ["A": "REMO_TEST_MARKER_a", "B": "REMO_TEST_MARKER_b", "C": "REMO_TEST_MARKER_c"]
        #expect(same)
        #expect(try Self.secrets("").isEmpty)
        #expect(try Self.secrets("\n# only comments\n\n").isEmpty)
    }

    @Test func valuesNeedingJSONEscapesSurviveTheRequestLine() throws {
        // Control bytes and a quote must be escaped in the JSON line, not break it.
        let bytes = Array("K=\"REMO_TEST_MARKER_\\t\u{01}\\\"\"\n".utf8)
        let parsed = try Self.secrets(bytes, format: .env)
        let same = parsed == ["K": "REMO_TEST_MARKER_\t\u{01}\""]
        #expect(same)
    }

    // The values are written `{V}` and become markers in the body: swift-testing prints the
    // arguments of every case, and the leak gate (ci/check-leaks.sh) scans that output.
    @Test(arguments: [
        ("A={V}1\nA={V}2\n", "line 2", "A is set twice"),
        ("1-bad={V}x\n", "line 1", "^[A-Za-z0-9_]{1,128}$"),
        ("={V}x\n", "line 1", "name must match"),
        ("\(String(repeating: "N", count: 129))={V}x\n", "line 1", "name must match"),
        ("# ok\n{V}no_equals\n", "line 2", "expected KEY=VALUE"),
        ("export\n", "line 1", "expected KEY=VALUE"),
        ("A=\"{V}unclosed\n", "line 1", "not closed"),
        ("A='{V}unclosed\nB=x\n", "line 1", "not closed"),
        ("A=\"{V}\\q\"\n", "line 1", "unknown escape"),
        ("A=\"{V}x\"trailing\n", "line 1", "after the closing quote"),
        ("A=ok\nB=\"{V}\\", "line 2", "not closed"),
    ])
    func malformedLinesNameTheLineNeverTheValue(_ text: String, _ line: String, _ reason: String) throws {
        let message = try #require(Self.failure(text.replacing("{V}", with: Self.marker)))
        #expect(message.contains(line), "\(message)")
        #expect(message.contains(reason), "\(message)")
    }

    @Test func invalidUTF8IsRejectedWithoutTheValue() throws {
        let bytes = Array("OK=1\nBAD=REMO_TEST_MARKER_".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        let message = try #require(Self.failure(bytes, format: .env))
        #expect(message.contains("line 2") && message.contains("BAD") && message.contains("UTF-8"), "\(message)")
        let quoted = Array("BAD=\"REMO_TEST_MARKER_".utf8) + [0xFF] + Array("\"\n".utf8)
        #expect(Self.failure(quoted, format: .env) != nil)
    }

    @Test func jsonSetsWithBundles() throws {
        let parsed = try Self.secrets(#"{"gh":"REMO_TEST_MARKER_gh","aws":{"id":"REMO_TEST_MARKER_id"}}"#, format: .json)
        let same = parsed == ["gh": "REMO_TEST_MARKER_gh", "aws": "{id=REMO_TEST_MARKER_id}"]
        #expect(same)
    }

    @Test func malformedJSONNamesNoValue() throws {
        for text in [#"{"gh":"REMO_TEST_MARKER_gh""#, #"["REMO_TEST_MARKER_x"]"#, #"{"gh":"REMO_TEST_MARKER_\q"}"#,
                     #""REMO_TEST_MARKER_x""#] {
            #expect(Self.failure(text, format: .json) != nil, "accepted: \(text.count) bytes")
        }
    }

    @Test func formatDetection() {
        #expect(SecretSetFile.Format.detect(Array("  \n\t{\"a\":\"b\"}".utf8)) == .json)
        #expect(SecretSetFile.Format.detect(Array("A=1\n".utf8)) == .env)
        #expect(SecretSetFile.Format.detect(Array("# {\nA=1".utf8)) == .env)
        #expect(SecretSetFile.Format.detect([]) == .env)
    }
}
