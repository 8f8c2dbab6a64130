import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// Manifests (SPEC §4) as the broker sees them on register and reload.
@Suite struct ManifestValidationTests {
    struct BadManifest: Sendable {
        let label: String
        let text: String
        /// The line the error must name (`file:line:col`), or nil when only the file is known.
        let line: Int?
    }

    static let fileSecret = "fetch_as = \"file\"\nfile_path = \"~/.a\"\nfile_mode = \"0600\"\ntemplate = \"{{value}}\"\n"

    /// One case per rule. Line numbers count the two header lines of `manifest(...)`.
    static let badManifests: [BadManifest] = [
        .init(label: "unknown top-level key", text: manifest("mf", "bogus = 1\n"), line: 3),
        .init(label: "unknown table", text: manifest("mf", "[extra]\nx = 1\n"), line: 3),
        .init(label: "unknown key in a secret", text: manifest("mf", "[secrets.a]\nenv_vr = \"A\"\n"), line: 4),
        .init(label: "unknown key in cache", text: manifest("mf", "[cache]\nttl_seconds = 5\n"), line: 4),
        .init(label: "secret name with a dash", text: manifest("mf", "[secrets.\"bad-name\"]\n"), line: 3),
        .init(label: "secret name of 129 bytes", text: manifest("mf", "[secrets.\(String.filler(129))]\n"), line: 3),
        .init(label: "env_var starting with a digit", text: manifest("mf", "[secrets.a]\nenv_var = \"1A\"\n"), line: 4),
        .init(label: "env_var with a dash", text: manifest("mf", "[secrets.a]\nenv_var = \"A-B\"\n"), line: 4),
        .init(label: "duplicate env var", text: manifest("mf", "[secrets.a]\nenv_var = \"X\"\n[secrets.b]\nenv_var = \"X\"\n"), line: nil),
        .init(label: "duplicate default env var", text: manifest("mf", "[secrets.a]\n[secrets.b]\nenv_var = \"A\"\n"), line: nil),
        .init(label: "duplicate file path", text: manifest("mf", "[secrets.a]\n\(fileSecret)[secrets.b]\n\(fileSecret)"), line: nil),
        .init(label: "env binding with file_path", text: manifest("mf", "[secrets.a]\nfile_path = \"/x\"\n"), line: 4),
        .init(label: "env binding with template", text: manifest("mf", "[secrets.a]\nfetch_as = \"env\"\ntemplate = \"x\"\n"), line: 5),
        .init(label: "file binding with env_var", text: manifest("mf", "[secrets.a]\n\(fileSecret)env_var = \"A\"\n"), line: 8),
        .init(label: "file binding without file_path",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_mode = \"0600\"\ntemplate = \"x\"\n"), line: 3),
        .init(label: "file binding without file_mode",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/tmp/x\"\ntemplate = \"x\"\n"), line: 3),
        .init(label: "file binding without template",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/tmp/x\"\nfile_mode = \"0600\"\n"), line: 3),
        .init(label: "relative file_path",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"a/b\"\nfile_mode = \"0600\"\ntemplate = \"x\"\n"), line: 5),
        .init(label: "group-writable file_mode",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/tmp/x\"\nfile_mode = \"0620\"\ntemplate = \"x\"\n"), line: 6),
        .init(label: "other-writable file_mode",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/tmp/x\"\nfile_mode = \"0602\"\ntemplate = \"x\"\n"), line: 6),
        .init(label: "three-digit file_mode",
              text: manifest("mf", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/tmp/x\"\nfile_mode = \"600\"\ntemplate = \"x\"\n"), line: 6),
        .init(label: "unknown fetch_as", text: manifest("mf", "[secrets.a]\nfetch_as = \"disk\"\n"), line: 4),
        .init(label: "cache TTL above the broker's", text: manifest("mf", "[cache]\ndefault_ttl_seconds = 901\n"), line: 4),
        .init(label: "cache size above the broker's", text: manifest("mf", "[cache]\ndefault_max_entries = 33\n"), line: 4),
        .init(label: "cache TTL of zero", text: manifest("mf", "[cache]\ndefault_ttl_seconds = 0\n"), line: 4),
        .init(label: "project name mismatch", text: manifest("other"), line: 2),
        .init(label: "project missing", text: "schema_version = 1\n[secrets.a]\n", line: nil),
        .init(label: "schema_version 2", text: "schema_version = 2\nproject = \"mf\"\n", line: 1),
        .init(label: "schema_version as a string", text: "schema_version = \"1\"\nproject = \"mf\"\n", line: 1),
        .init(label: "schema_version missing", text: "project = \"mf\"\n", line: nil),
        .init(label: "TOML syntax error", text: manifest("mf", "[secrets.a\n"), line: 3),
        .init(label: "legacy duplicate allowlist entry",
              text: "schema_version = 1\n[project]\nname = \"mf\"\n[allowlist]\nsecrets = [\"a\", \"a\"]\n", line: 5),
        .init(label: "legacy bad secret name",
              text: "schema_version = 1\n[project]\nname = \"mf\"\n[allowlist]\nsecrets = [\"a b\"]\n", line: 5),
        .init(label: "legacy unknown key",
              text: "schema_version = 1\n[project]\nname = \"mf\"\nowner = \"me\"\n", line: 4),
        .init(label: "legacy description over 256 characters",
              text: "schema_version = 1\n[project]\nname = \"mf\"\ndescription = \"\(String.filler(257))\"\n", line: 4),
        .init(label: "legacy cache TTL above the broker's",
              text: "schema_version = 1\n[project]\nname = \"mf\"\n[cache]\nttl_seconds = 1000\n", line: 5),
    ]

    @Test(arguments: badManifests.map(\.label))
    func badManifestOnReloadKeepsTheOldOne(_ label: String) throws {
        let bad = try #require(Self.badManifests.first { $0.label == label })
        let broker = try Broker.withProject("mf", secrets: ["keep"], values: [("keep", secret("keep"))])
        let project = try broker.connect(project: "mf")
        let path = broker.root.file("projects/mf/.remo/manifest.toml")
        try broker.root.write("projects/mf/.remo/manifest.toml", bad.text)

        let reply = try broker.adminRequest(#"{"op":"reload","name":"mf"}"#)
        expectError(reply, "manifest_invalid")
        let message = reply.message ?? ""
        if let line = bad.line {
            let prefix = "\(path):\(line):"
            let column = message.hasPrefix(prefix) ? message.dropFirst(prefix.count).prefix { $0 != ":" } : ""
            #expect(message.hasPrefix(prefix) && Int(column) != nil, "expected \(prefix)<col>: in \(message)")
        } else {
            #expect(message.hasPrefix(path), "expected the file name in \(message)")
        }
        // The old manifest stays in force, on the open connection and on new ones.
        #expect(valueMatches(try project.request(op: "get", [("name", "keep")]), secret("keep")), "old manifest lost")
        #expect(try broker.connect(project: "mf").request(op: "info").tree["allowlist"]?.strings == ["keep"])
        let event = broker.waitForAuditEvent { $0.event == "manifest.invalid" }
        #expect(event?["project"]?.string == "mf")
        #expect(event?["error"]?.string?.hasPrefix(path) == true, "\(String(describing: event))")
    }

    @Test func reloadWithTheManifestGoneIsNotFoundAndKeepsTheOldOne() throws {
        let broker = try Broker.withProject("vanish", secrets: ["keep"], values: [("keep", secret("keep"))])
        TempDirectory.removeTree(broker.root.file("projects/vanish/.remo"))
        expectError(try broker.adminRequest(#"{"op":"reload","name":"vanish"}"#), "manifest_not_found")
        #expect(valueMatches(try broker.connect(project: "vanish").request(op: "get", [("name", "keep")]), secret("keep")),
                "old manifest lost")
    }

    static let legacy = """
        schema_version = 1

        [project]
        name = "NAME"
        description = "a legacy project"

        [allowlist]
        secrets = ["gh", "npm_token"]

        [cache]
        ttl_seconds = 60
        max_entries = 5
        """

    @Test(arguments: [".devcontainer/remo-broker.toml", ".remo/broker.toml"])
    func legacyFormIsAcceptedAtLegacyPaths(_ file: String) throws {
        let broker = try Broker.start()
        try broker.root.write("projects/legacy/\(file)", Self.legacy.replacing("NAME", with: "legacy"))
        let reply = try broker.register("legacy", path: broker.root.file("projects/legacy"))
        #expect(reply.ok, "\(reply.redactedText)")
        try broker.push([("gh", secret("gh")), ("npm_token", secret("npm"))])
        let project = try broker.connect(project: "legacy")
        let info = try project.request(op: "info").tree
        #expect(info["allowlist"]?.strings == ["gh", "npm_token"])
        #expect(info["secrets"] == (try JSONTree(parsing: """
            [{"name":"gh","fetch_as":"env","env_var":"GH"},{"name":"npm_token","fetch_as":"env","env_var":"NPM_TOKEN"}]
            """)))
        let get = try project.request(op: "get", [("name", "npm_token")])
        #expect(valueMatches(get, secret("npm")), "value mismatch")
        #expect((1...60).contains(get.int("ttl_seconds") ?? -1))
    }

    @Test func discoveryOrderIsManifestThenDevcontainerThenBrokerToml() throws {
        let broker = try Broker.start()
        try broker.root.write("projects/order/.remo/manifest.toml", manifest("order", "[secrets.first]\n"))
        try broker.root.write("projects/order/.devcontainer/remo-broker.toml",
                              "schema_version = 1\n[project]\nname = \"order\"\n[allowlist]\nsecrets = [\"second\"]\n")
        try broker.root.write("projects/order/.remo/broker.toml",
                              "schema_version = 1\n[project]\nname = \"order\"\n[allowlist]\nsecrets = [\"third\"]\n")
        #expect(try broker.register("order", path: broker.root.file("projects/order")).ok)
        #expect(try broker.connect(project: "order").request(op: "info").tree["allowlist"]?.strings == ["first"])

        Glibc.unlink(broker.root.file("projects/order/.remo/manifest.toml"))
        #expect(try broker.adminRequest(#"{"op":"reload","name":"order"}"#).tree["allowlist"]?.strings == ["second"])
        Glibc.unlink(broker.root.file("projects/order/.devcontainer/remo-broker.toml"))
        #expect(try broker.adminRequest(#"{"op":"reload","name":"order"}"#).tree["allowlist"]?.strings == ["third"])
    }

    @Test func emptyAllowlistsAreLegal() throws {
        let broker = try Broker.start()
        try broker.root.write("projects/empty1/.remo/manifest.toml", manifest("empty1"))
        try broker.root.write("projects/empty2/.remo/broker.toml",
                              "schema_version = 1\n[project]\nname = \"empty2\"\n[allowlist]\nsecrets = []\n")
        for name in ["empty1", "empty2"] {
            #expect(try broker.register(name, path: broker.root.file("projects/\(name)")).ok)
            #expect(try broker.connect(project: name).request(op: "info").tree["allowlist"] == .array([]))
        }
    }

    /// SPEC §4: `file_path` is "absolute or ~/...": the shortest absolute path is one too.
    @Test func shortAbsoluteFilePathIsAccepted() throws {
        let broker = try Broker.start()
        try broker.root.write("projects/short/.remo/manifest.toml",
                              manifest("short", "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/a\"\nfile_mode = \"0400\"\ntemplate = \"{{value}}\"\n"))
        let reply = try broker.register("short", path: broker.root.file("projects/short"))
        #expect(reply.ok, "\(reply.redactedText)")
    }

    /// SPEC §5: the manifest's cache limits apply (bounded, oldest entry evicted first).
    @Test func manifestCacheLimitsBoundTheCache() throws {
        let text = manifest("bounded", "[secrets.a]\n[secrets.b]\n[secrets.c]\n[cache]\ndefault_ttl_seconds = 30\ndefault_max_entries = 2\n")
        let broker = try Broker.withProject("bounded", secrets: [], manifest: text,
                                            values: [("a", secret("a")), ("b", secret("b")), ("c", secret("c"))])
        let project = try broker.connect(project: "bounded")
        for name in ["a", "b", "c"] {
            #expect((1...30).contains(try project.request(op: "get", [("name", name)]).int("ttl_seconds") ?? -1))
        }
        #expect(try broker.status().project("bounded")?["cache_entries"]?.int == 2)
    }
}
