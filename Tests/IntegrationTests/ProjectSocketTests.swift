import BrokerClient
import BrokerCore
import BrokerHarness
import Testing

/// The data plane (SPEC §3, §3.1): ping, info, get and the protocol errors of a project socket.
@Suite struct ProjectSocketTests {
    static let fileBinding = """

        [secrets.zeta]
        env_var = "Z_TOKEN"

        [secrets.alpha]

        [secrets.aws]
        fetch_as  = "file"
        file_path = "~/.aws/credentials"
        file_mode = "0600"
        template  = "[default]\\nid={{aws_access_key_id}}\\n"

        [cache]
        default_ttl_seconds = 600
        """

    @Test func pingNamesVersionProtocolAndProject() throws {
        let broker = try Broker.withProject("pinger", secrets: [])
        let reply = try broker.connect(project: "pinger").request(op: "ping")
        expectOK(reply, keys: ["ok", "broker_version", "protocol_version", "project"])
        #expect(reply.string("broker_version") == BrokerVersion.version)
        #expect(reply.int("protocol_version") == 2)
        #expect(reply.string("project") == "pinger")
    }

    @Test func infoListsSortedAllowlistAndValidatedBindings() throws {
        let broker = try Broker.withProject("infop", secrets: [], manifest: manifest("infop", Self.fileBinding))
        let reply = try broker.connect(project: "infop").request(op: "info")
        expectOK(reply, keys: ["ok", "project", "schema_version", "allowlist", "secrets", "revision"])
        let tree = reply.tree
        #expect(tree["project"]?.string == "infop")
        #expect(tree["schema_version"]?.int == 1)
        #expect(tree["allowlist"]?.strings == ["alpha", "aws", "zeta"])
        let expected = try JSONTree(parsing: """
            [{"name":"alpha","fetch_as":"env","env_var":"ALPHA"},
             {"name":"aws","fetch_as":"file","file_path":"~/.aws/credentials","file_mode":"0600",
              "template":"[default]\\nid={{aws_access_key_id}}\\n"},
             {"name":"zeta","fetch_as":"env","env_var":"Z_TOKEN"}]
            """)
        #expect(tree["secrets"] == expected)
    }

    @Test func getScalarAndBundleWithTTLWithinTheManifestTTL() throws {
        let broker = try Broker.withProject("getter", secrets: [], manifest: manifest("getter", Self.fileBinding))
        let alpha = secret("alpha_1"), keyID = secret("key_id"), key = secret("key")
        try broker.push(json: """
            {"alpha":"\(alpha)","aws":{"aws_access_key_id":"\(keyID)","aws_secret_access_key":"\(key)"}}
            """)
        let connection = try broker.connect(project: "getter")

        let scalar = try connection.request(op: "get", [("name", "alpha")])
        expectOK(scalar, keys: ["ok", "value", "ttl_seconds"])
        #expect(valueMatches(scalar, alpha), "value mismatch")
        let ttl = try #require(scalar.int("ttl_seconds"))
        #expect((1...600).contains(ttl))

        let bundle = try connection.request(op: "get", [("name", "aws")])
        expectOK(bundle, keys: ["ok", "fields", "ttl_seconds"])
        let fields = bundle.tree["fields"]
        let sameFields = fields?.keys == ["aws_access_key_id", "aws_secret_access_key"]
            && fields?["aws_access_key_id"]?.string == keyID && fields?["aws_secret_access_key"]?.string == key
        #expect(sameFields, "bundle fields mismatch")
        #expect((1...600).contains(bundle.int("ttl_seconds") ?? -1))

        // A repeated get is served from the cache entry: its remaining life never grows.
        let again = try connection.request(op: "get", [("name", "alpha")])
        #expect((1...ttl).contains(again.int("ttl_seconds") ?? -1))
    }

    @Test func deniedIsTheSameBytesWhetherOrNotTheSecretExists() throws {
        let exists = "Stored_elsewhere", absent = "Never_pushed_zq"
        let broker = try Broker.withProject("denier", secrets: ["allowed"],
                                            values: [("allowed", secret("a")), (exists, secret("other"))])
        let connection = try broker.connect(project: "denier")
        let forExisting = try connection.request(op: "get", [("name", exists)])
        let forAbsent = try connection.request(op: "get", [("name", absent)])
        let forMalformed = try connection.request(op: "get", [("name", "not a name!")])
        expectError(forExisting, "denied")
        let sameForAbsent = forExisting.raw == forAbsent.raw, sameForMalformed = forExisting.raw == forMalformed.raw
        #expect(sameForAbsent, "\(forExisting.redactedText) vs \(forAbsent.redactedText)")
        #expect(sameForMalformed, "\(forExisting.redactedText) vs \(forMalformed.redactedText)")
        let message = forExisting.message ?? ""
        #expect(!message.contains(exists) && !message.contains(absent), "\(message)")
        // The connection keeps serving the allowed secret.
        #expect(valueMatches(try connection.request(op: "get", [("name", "allowed")]), secret("a")), "value mismatch")
    }

    @Test func notFoundForAllowedButNotPushed() throws {
        let broker = try Broker.withProject("finder", secrets: ["pushed", "missing"], values: [("pushed", secret("p"))])
        let connection = try broker.connect(project: "finder")
        expectError(try connection.request(op: "get", [("name", "missing")]), "not_found")
        // Before any push at all, an allowed name is not_found too.
        let empty = try Broker.withProject("finder", secrets: ["pushed"])
        expectError(try empty.connect(project: "finder").request(op: "get", [("name", "pushed")]), "not_found")
    }

    /// Malformed request lines for both sockets: each gets `protocol_error`, and the
    /// connection stays open (a `ping`/`status` afterwards is answered).
    static let malformedLines: [(String, [UInt8])] = [
        ("invalid UTF-8", Array("{\"op\":\"ping\",\"x\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)),
        ("overlong UTF-8", Array("{\"op\":\"ping\",\"x\":\"".utf8) + [0xC0, 0xAF] + Array("\"}".utf8)),
        ("bare invalid byte", [0xFF]),
        ("invalid JSON", Array("{op: ping}".utf8)),
        ("trailing comma", Array("{\"op\":\"ping\",}".utf8)),
        ("trailing data", Array("{\"op\":\"ping\"} {}".utf8)),
        ("truncated", Array("{\"op\":\"ping\"".utf8)),
        ("array", Array("[\"ping\"]".utf8)),
        ("string", Array("\"ping\"".utf8)),
        ("number", Array("42".utf8)),
        ("null", Array("null".utf8)),
        ("missing op", Array("{\"name\":\"x\"}".utf8)),
        ("numeric op", Array("{\"op\":1}".utf8)),
        ("null op", Array("{\"op\":null}".utf8)),
        ("object op", Array("{\"op\":{\"ping\":true}}".utf8)),
        ("duplicate op", Array("{\"op\":\"ping\",\"op\":\"ping\"}".utf8)),
        ("duplicate other key", Array("{\"op\":\"ping\",\"x\":1,\"x\":2}".utf8)),
    ]

    @Test(arguments: malformedLines.map(\.0))
    func malformedLineIsProtocolErrorAndConnectionStaysOpen(_ label: String) throws {
        let line = try #require(Self.malformedLines.first { $0.0 == label }?.1)
        let broker = try Broker.withProject("malformed", secrets: ["a"])
        let project = try broker.connect(project: "malformed", timeoutSeconds: 10)
        expectError(try project.request(line), "protocol_error")
        expectOK(try project.request(op: "ping"), keys: ["ok", "broker_version", "protocol_version", "project"])
        let admin = try broker.admin()
        expectError(try admin.request(line), "protocol_error")
        #expect(try admin.request(op: "status").ok)
    }

    @Test func unknownOpAndWrongFieldTypesAreProtocolErrors() throws {
        let broker = try Broker.withProject("typed", secrets: ["a"], values: [("a", secret("a"))])
        let connection = try broker.connect(project: "typed", timeoutSeconds: 10)
        for line in [#"{"op":"status"}"#, #"{"op":"PING"}"#, #"{"op":""}"#,
                     #"{"op":"get","name":5}"#, #"{"op":"get","name":null}"#, #"{"op":"get","name":["a"]}"#,
                     #"{"op":"get","name":{"a":1}}"#, #"{"op":"get","name":true}"#] {
            expectError(try connection.request(json: line), "protocol_error")
            #expect(try connection.request(op: "ping").ok, "connection closed after \(line)")
        }
        #expect(valueMatches(try connection.request(op: "get", [("name", "a")]), secret("a")), "value mismatch")
    }

    @Test func emptyLinesAreIgnoredAndUnknownFieldsToo() throws {
        let broker = try Broker.withProject("lenient", secrets: ["a"], values: [("a", secret("a"))])
        let connection = try broker.connect(project: "lenient", timeoutSeconds: 10)
        // Empty lines produce no reply: the first reply is the ping's, the second the info's.
        try connection.send(text: "\n\n\n{\"op\":\"ping\"}\n\n{\"op\":\"info\"}\n")
        #expect(try connection.receive().string("broker_version") == BrokerVersion.version)
        #expect(try connection.receive().tree["allowlist"]?.strings == ["a"])
        #expect(connection.staysQuiet(forSeconds: 0.2), "an empty line was answered")

        let extra = try connection.request(json: #"{"op":"get","name":"a","future":{"x":[1,2]},"v":3}"#)
        #expect(valueMatches(extra, secret("a")), "value mismatch")
        expectOK(try connection.request(json: #"{"zzz":null,"op":"ping"}"#),
                 keys: ["ok", "broker_version", "protocol_version", "project"])
    }

    /// Values holding JSON escapes, control characters, NUL and non-ASCII come back exactly.
    @Test func valuesWithEscapesRoundTripExactly() throws {
        let broker = try Broker.withProject("escapes", secrets: ["s", "b"])
        // JSON text of the values, and the decoded strings they must come back as.
        let encoded = #"\#(secret("q"))\"quote\\back\/slash\n\t\u0000nul\u001f\u00e9\ud83d\ude00end"#
        let decoded = secret("q") + "\"quote\\back/slash\n\t\u{0}nul\u{1f}é😀end"
        try broker.push(json: #"{"s":"\#(encoded)","b":{"f":"\#(encoded)","g":""}}"#)
        let connection = try broker.connect(project: "escapes")
        #expect(valueMatches(try connection.request(op: "get", [("name", "s")]), decoded), "scalar value changed in transit")
        let fields = try connection.request(op: "get", [("name", "b")]).tree["fields"]
        let same = fields?["f"]?.string == decoded && fields?["g"]?.string == ""
        #expect(same, "bundle value changed in transit")
    }

    /// 1,000 requests written in one go are all answered, in order.
    @Test func thousandPipelinedRequestsAreAnsweredInOrder() throws {
        let broker = try Broker.withProject("piped", secrets: ["a", "b"], values: [("a", secret("a")), ("b", secret("b"))],
                                            arguments: Broker.unlimited)
        let connection = try broker.connect(project: "piped", timeoutSeconds: 20)
        var batch: [UInt8] = []
        for index in 0..<1000 {
            switch index % 4 {
            case 0: batch += Array("{\"op\":\"ping\"}\n".utf8)
            case 1: batch += Array("{\"op\":\"get\",\"name\":\"a\"}\n".utf8)
            case 2: batch += Array("{\"op\":\"info\"}\n".utf8)
            default: batch += Array("{\"op\":\"get\",\"name\":\"b\",\"seq\":\(index)}\n".utf8)
            }
        }
        try connection.send(batch)
        var mismatches: [Int] = []
        for index in 0..<1000 {
            let reply = try connection.receive()
            let good: Bool
            switch index % 4 {
            case 0: good = reply.ok && reply.string("project") == "piped"
            case 1: good = valueMatches(reply, secret("a"))
            case 2: good = reply.ok && reply.tree["allowlist"]?.strings == ["a", "b"]
            default: good = valueMatches(reply, secret("b"))
            }
            if !good { mismatches.append(index) }
        }
        #expect(mismatches.isEmpty, "replies out of order or wrong at \(mismatches.prefix(10))")
        #expect(connection.staysQuiet(forSeconds: 0.1), "more replies than requests")
    }
}
