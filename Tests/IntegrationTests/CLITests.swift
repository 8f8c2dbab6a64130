import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The client commands of the same binary (SPEC §8) against a real broker.
@Suite struct CLITests {
    static func cli(_ arguments: [String], environment: [String: String] = [:], stdinFile: String? = nil) throws -> CommandRunner.Result {
        try CommandRunner.run(TestBinary.path, arguments, environment: environment, stdinFile: stdinFile, timeoutSeconds: 15)
    }

    /// Neither output stream carries a test secret value.
    static func quiet(_ result: CommandRunner.Result) -> Bool {
        !SecretMarker.occurs(in: result.stdout) && !SecretMarker.occurs(in: result.stderr)
    }

    @Test func statusPrintsASummaryAndRawJSONWithFlag() throws {
        let broker = try Broker.withProject("shown", secrets: ["a"])
        let text = try Self.cli(["status", "--socket-dir", broker.socketDir])
        #expect(text.exitCode == 0, "\(text.stderrText)")
        #expect(text.stdoutText.hasPrefix("remo-broker \(BrokerVersion.version)"), "\(text.stdoutText)")
        #expect(text.stdoutText.contains("shown"))

        let json = try Self.cli(["status", "--json"], environment: ["REMO_BROKER_SOCKET_DIR": broker.socketDir])
        #expect(json.exitCode == 0, "\(json.stderrText)")
        let tree = try JSONTree(parsing: json.stdoutText.trimmingNewline)
        #expect(tree["ok"] == .bool(true) && tree.project("shown") != nil, "\(tree)")
    }

    @Test func registerPrintsTheSocketAndErrorsGoToStderr() throws {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "clip", secrets: ["a"])
        let ok = try Self.cli(["register", "clip", path, "--socket-dir", broker.socketDir])
        #expect(ok.exitCode == 0, "\(ok.stderrText)")
        #expect(ok.stdoutText == "registered clip: \(broker.projectSocket("clip"))\n", "\(ok.stdoutText)")
        #expect(try broker.connect(project: "clip").request(op: "ping").ok)

        let again = try Self.cli(["register", "clip", path, "--socket-dir", broker.socketDir])
        #expect(again.exitCode == 1)
        #expect(again.stderrText.contains("project_exists"), "\(again.stderrText)")
        #expect(again.stdout.isEmpty)

        let mismatch = try Self.cli(["register", "other", path, "--socket-dir", broker.socketDir, "--json"])
        #expect(mismatch.exitCode == 1)
        #expect(mismatch.stderrText.contains("invalid_payload"), "\(mismatch.stderrText)")
        #expect((try? JSONTree(parsing: mismatch.stdoutText.trimmingNewline))?["code"]?.string == "invalid_payload")
    }

    @Test func pushFromFileAndStdinNeverPrintsValues() throws {
        let broker = try Broker.withProject("pushed", secrets: ["a", "aws"])
        let file = try broker.root.write("secrets.json", """
            {"a": "\(secret("file_a"))", "aws": {"aws_access_key_id": "\(secret("id"))", "aws_secret_access_key": "\(secret("key"))"}}
            """, mode: 0o600)
        let fromFile = try Self.cli(["push", file, "--socket-dir", broker.socketDir])
        #expect(fromFile.exitCode == 0, "\(fromFile)")
        let summary = fromFile.stdoutText.hasPrefix("pushed 2 secret(s)")
        #expect(summary, "\(fromFile)")
        #expect(Self.quiet(fromFile), "push printed a value")
        #expect(valueMatches(try broker.connect(project: "pushed").request(op: "get", [("name", "a")]), secret("file_a")),
                "value mismatch")

        let stdin = try broker.root.write("stdin.json", "{\"a\": \"\(secret("stdin_a"))\"}", mode: 0o600)
        let fromStdin = try Self.cli(["push", "-", "--socket-dir", broker.socketDir, "--json"], stdinFile: stdin)
        #expect(fromStdin.exitCode == 0, "\(fromStdin)")
        #expect(Self.quiet(fromStdin), "push printed a value")
        let reply = try JSONTree(parsing: fromStdin.stdoutText.trimmingNewline)
        #expect(reply["ok"] == .bool(true) && reply["secret_count"]?.int == 1, "\(reply)")
        #expect(valueMatches(try broker.connect(project: "pushed").request(op: "get", [("name", "a")]), secret("stdin_a")),
                "value mismatch")
    }

    @Test func pushErrorsNameTheProblemWithoutTheValue() throws {
        let broker = try Broker.withProject("refused", secrets: ["a"], values: [("a", secret("kept"))])
        let invalid = try broker.root.write("invalid.json", "{\"a\": \"\(secret("x"))\", \"b\": 5}", mode: 0o600)
        let refused = try Self.cli(["push", invalid, "--socket-dir", broker.socketDir])
        #expect(refused.exitCode == 1, "\(refused.status)")
        let named = refused.stderrText.contains("invalid_payload")
        #expect(named, "\(refused)")
        #expect(Self.quiet(refused), "a failed push printed a value")

        let malformed = try broker.root.write("malformed.json", "{\"a\": \"\(secret("y"))\",", mode: 0o600)
        let unreadable = try Self.cli(["push", malformed, "--socket-dir", broker.socketDir])
        #expect(unreadable.exitCode != 0 && unreadable.exitCode != 1, "\(unreadable.status)")
        #expect(Self.quiet(unreadable), "a malformed push file was echoed")
        #expect(valueMatches(try broker.connect(project: "refused").request(op: "get", [("name", "a")]), secret("kept")),
                "store changed by a refused push")
    }

    /// SPEC §8: `push --format env` reads `KEY=VALUE` lines.
    @Test func pushEnvFormat() throws {
        let broker = try Broker.withProject("envfmt", secrets: ["A", "B"])
        let file = try broker.root.write("secrets.env", "A=\(secret("env_a"))\nB=\(secret("env_b"))\n", mode: 0o600)
        let result = try Self.cli(["push", file, "--format", "env", "--socket-dir", broker.socketDir])
        #expect(result.exitCode == 0, "\(result)")
        #expect(Self.quiet(result), "push printed a value")
        let project = try broker.connect(project: "envfmt")
        let gotA = valueMatches(try project.request(op: "get", [("name", "A")]), secret("env_a"))
        let gotB = valueMatches(try project.request(op: "get", [("name", "B")]), secret("env_b"))
        let both = gotA && gotB
        #expect(both, "values not pushed from KEY=VALUE lines")
    }

    @Test func getPrintsScalarsAsIsAndBundlesAsJSON() throws {
        let broker = try Broker.withProject("fetched", secrets: ["a", "aws"])
        try broker.push(json: #"{"a":"\#(secret("a"))","aws":{"id":"\#(secret("id"))","key":"\#(secret("key"))"}}"#)
        let socket = broker.projectSocket("fetched")

        let scalar = try Self.cli(["get", "a", "--socket", socket])
        let sameScalar = scalar.exitCode == 0 && scalar.stdoutText == secret("a") + "\n"
        #expect(sameScalar, "scalar get printed something else (exit \(scalar.status))")
        #expect(scalar.stderr.isEmpty)

        let bundle = try Self.cli(["get", "aws"], environment: ["REMO_BROKER_SOCKET": socket])
        #expect(bundle.exitCode == 0)
        let fields = try? JSONTree(parsing: bundle.stdoutText.trimmingNewline)
        let sameBundle = fields?.keys.map(Set.init) == ["id", "key"] && fields?["id"]?.string == secret("id")
            && fields?["key"]?.string == secret("key")
        #expect(sameBundle, "bundle get did not print its fields as JSON")

        let raw = try Self.cli(["get", "a", "--socket", socket, "--json"])
        let reply = try? JSONTree(parsing: raw.stdoutText.trimmingNewline)
        let sameRaw = reply?["ok"] == .bool(true) && reply?["value"]?.string == secret("a") && reply?["ttl_seconds"]?.int != nil
        #expect(sameRaw, "--json did not print the raw reply")
    }

    @Test func getErrorsGoToStderrWithTheCode() throws {
        let broker = try Broker.withProject("errs", secrets: ["allowed"], values: [("other", secret("other"))])
        let socket = broker.projectSocket("errs")
        for (name, code) in [("other", "denied"), ("allowed", "not_found")] {
            let result = try Self.cli(["get", name, "--socket", socket])
            #expect(result.exitCode == 1, "\(name): \(result.status)")
            let named = result.stderrText.contains(code)
            #expect(named, "\(result)")
            #expect(result.stdout.isEmpty && Self.quiet(result))
        }
        let unreachable = try Self.cli(["get", "allowed", "--socket", broker.root.file("nowhere.sock")])
        #expect(unreachable.exitCode == 69, "\(unreachable.status)")
        #expect(unreachable.stdout.isEmpty)
    }

    @Test func pingInfoUnregisterAndClear() throws {
        let broker = try Broker.withProject("misc", secrets: ["a"], values: [("a", secret("a"))])
        let socket = broker.projectSocket("misc"), dir = broker.socketDir
        let ping = try Self.cli(["ping", "--socket", socket])
        #expect(ping.exitCode == 0 && ping.stdoutText.contains("misc"), "\(ping.stdoutText)")
        let info = try Self.cli(["info", "--socket", socket])
        #expect(info.exitCode == 0 && info.stdoutText.contains("a: env A"), "\(info.stdoutText)")
        let clear = try Self.cli(["clear", "--socket-dir", dir])
        #expect(clear.exitCode == 0)
        #expect(try broker.status()["secret_count"]?.int == 0)
        let reload = try Self.cli(["reload", "misc", "--socket-dir", dir])
        #expect(reload.exitCode == 0 && reload.stdoutText == "reloaded misc: 1 secret(s) allowed\n  (no secret added or removed)\n",
                "\(reload.stdoutText)")
        let unregister = try Self.cli(["unregister", "misc", "--socket-dir", dir])
        #expect(unregister.exitCode == 0)
        #expect(try broker.status()["projects"] == .array([]))
        let again = try Self.cli(["unregister", "misc", "--socket-dir", dir])
        #expect(again.exitCode == 1 && again.stderrText.contains("project_unknown"), "\(again.stderrText)")
    }
}

extension String {
    /// Without one trailing newline.
    var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
