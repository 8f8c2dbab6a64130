import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `remo-broker exec`: the devcontainer entrypoint, run for real against a broker child.
/// CMD is a shell that records what it got (`env`, the secret files, its pid) in a result
/// directory; the test compares there and never prints a value.
@Suite struct ExecTests {
    /// CMD: `$1` is the result directory, the other arguments are files to copy into it.
    static let dumpScript = """
        out="$1"; shift
        echo $$ > "$out/pid"
        env > "$out/env"
        for f in "$@"; do cat "$f" > "$out/copy.${f##*/}"; done
        """

    /// A broker with one registered project, a result directory and a memory-backed home.
    final class Fixture {
        let broker: BrokerProcess
        let results: TempDirectory
        let home: TempDirectory
        let project = "exec-demo"

        init(manifestBody: String, homeIn parent: String? = FilesystemKind.memoryDirectory) throws {
            broker = try BrokerProcess(binary: TestBinary.path)
            results = try TempDirectory(prefix: "rbx")
            home = try TempDirectory(prefix: "rbh", in: parent ?? "/tmp")
            try broker.start()
            let manifest = "schema_version = 1\nproject = \"\(project)\"\n\n" + manifestBody
            try broker.registerProject(project, secrets: [], manifest: manifest)
        }

        var socket: String { broker.projectSocket(project) }

        func environment(socket: String? = nil) -> [String] {
            toolEnvironment(home: home.path, ["REMO_BROKER_SOCKET": socket ?? self.socket])
        }

        /// `exec [options] -- sh -c dumpScript dump <results> [copy...]`
        func execArguments(_ options: [String], copy: [String] = []) -> [String] {
            ["exec"] + options + ["--", "/bin/sh", "-c", ExecTests.dumpScript, "dump", results.path] + copy
        }

        func exec(_ options: [String] = [], copy: [String] = [], socket: String? = nil) throws -> CLIRun {
            try runCLI(execArguments(options, copy: copy), environment: environment(socket: socket))
        }

        /// Whether CMD ran (it always writes its pid first).
        var commandRan: Bool { FileSystem.exists(results.file("pid")) }

        /// The `env` CMD saw, one `NAME=value` per line.
        var commandEnvironment: [String] {
            RunningTool.read(results.file("env")).split(separator: "\n").map(String.init)
        }

        func copied(_ name: String) -> String? {
            (try? FileSystem.readFile(results.file("copy.\(name)"))).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    @Test func envAndFileBindingsArriveWithTheirExactModes() throws {
        let shm = try #require(FilesystemKind.memoryDirectory, "no tmpfs directory on this machine")
        let npmDirectory = try TempDirectory(prefix: "rbn", in: shm)
        let npmPath = npmDirectory.file("conf/npmrc")  // exec creates conf/
        let fixture = try Fixture(manifestBody: """
            [secrets.gh]
            env_var = "GH_TOKEN"

            [secrets.openai_api_key]

            [secrets.aws]
            fetch_as = "file"
            file_path = "~/.aws/credentials"
            file_mode = "0600"
            template = \"\"\"
            [default]
            aws_access_key_id={{aws_access_key_id}}
            aws_secret_access_key={{aws_secret_access_key}}
            \"\"\"

            [secrets.npm]
            fetch_as = "file"
            file_path = "\(npmPath)"
            file_mode = "0640"
            template = "//registry.npmjs.org/:_authToken={{value}}"
            """, homeIn: shm)
        let gh = Marker.make("gh"), openai = Marker.make("openai"), keyID = Marker.make("keyid"),
            key = Marker.make("key"), npm = Marker.make("npm")
        try fixture.broker.pushJSON("""
            {"gh":"\(gh)","openai_api_key":"\(openai)","npm":"\(npm)",
             "aws":{"aws_access_key_id":"\(keyID)","aws_secret_access_key":"\(key)"}}
            """)
        let awsPath = fixture.home.file(".aws/credentials")

        let run = try fixture.exec(copy: [awsPath, npmPath])

        #expect(run.exitCode == 0, "\(run.stderr)")
        let environment = fixture.commandEnvironment
        let envRight = environment.contains("GH_TOKEN=\(gh)") && environment.contains("OPENAI_API_KEY=\(openai)")
        #expect(envRight, "env bindings missing or wrong")
        let awsRight = fixture.copied("credentials") == "[default]\naws_access_key_id=\(keyID)\naws_secret_access_key=\(key)\n"
        #expect(awsRight, "bundle file rendered wrong")
        let npmRight = fixture.copied("npmrc") == "//registry.npmjs.org/:_authToken=\(npm)"
        #expect(npmRight, "scalar file rendered wrong")
        #expect(fileMode(awsPath) == 0o600)
        #expect(fileMode(npmPath) == 0o640)
        // Atomic write: nothing but the target is left beside it.
        #expect((try? FileSystem.listDirectory(fixture.home.file(".aws"))) == ["credentials"])
        #expect((try? FileSystem.listDirectory(npmDirectory.file("conf"))) == ["npmrc"])
        #expect(!Marker.appears(in: run.output), "a value reached exec's stdout/stderr")
    }

    @Test func commandReplacesExecSamePidAndExitCode() throws {
        let fixture = try Fixture(manifestBody: "[secrets.gh]\n")
        try fixture.broker.push([("gh", Marker.make("gh"))])
        let script = "echo $$ > \"$1/pid\"; exit 7"
        let tool = try RunningTool(["exec", "--", "/bin/sh", "-c", script, "sh", fixture.results.path],
                                   environment: fixture.environment(), in: fixture.results, name: "exec")
        let status = try #require(tool.waitForExit())
        #expect(status.exitCode == 7, "\(status): \(tool.stderr)")
        let recorded = RunningTool.read(fixture.results.file("pid")).split(separator: "\n").first.flatMap { pid_t($0) }
        #expect(recorded == tool.pid, "CMD ran as a child, not in exec's place")
        #expect(!Marker.appears(in: tool.stdout + tool.stderr))
    }

    @Test(.enabled(if: FilesystemKind.diskDirectory != nil, "no disk-backed directory here"))
    func refusesADiskPathUnlessAllowed() throws {
        let disk = try TempDirectory(prefix: "rbd", in: FilesystemKind.diskDirectory!)
        let target = disk.file("secrets/token")
        let fixture = try Fixture(manifestBody: """
            [secrets.token]
            fetch_as = "file"
            file_path = "\(target)"
            file_mode = "0600"
            template = "{{value}}"
            """)
        try fixture.broker.push([("token", Marker.make("token"))])

        let refused = try fixture.exec()
        #expect(refused.exitCode == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("token") && refused.stderr.contains("tmpfs"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--allow-disk-files"))
        #expect(!FileSystem.exists(target))
        #expect(!fixture.commandRan)

        let allowed = try fixture.exec(["--allow-disk-files"], copy: [target])
        #expect(allowed.exitCode == 0, "\(allowed.stderr)")
        #expect(fixture.commandRan)
        #expect(fileMode(target) == 0o600)
        #expect(!Marker.appears(in: refused.output + allowed.output))
    }

    @Test func retriesUntilALatePushArrives() throws {
        let fixture = try Fixture(manifestBody: "[secrets.gh]\nenv_var = \"GH_TOKEN\"\n")
        let gh = Marker.make("gh")
        let tool = try RunningTool(fixture.execArguments(["--retry-seconds", "120"]),
                                   environment: fixture.environment(), in: fixture.results, name: "exec")
        // exec has asked and been told not_found at least once; a second later, the push.
        let notFound: ([String]) -> Bool = { $0.contains { $0.contains("\"outcome\":\"not_found\"") } }
        #expect(notFound(fixture.broker.waitForAudit(timeoutSeconds: 20, notFound)))
        usleep(1_000_000)
        #expect(!fixture.commandRan, "CMD ran before its secret existed")
        try fixture.broker.push([("gh", gh)])

        let status = try #require(tool.waitForExit(timeoutSeconds: 60), "exec still waiting after the push")
        #expect(status.exitCode == 0, "\(tool.stderr)")
        let envRight = fixture.commandEnvironment.contains("GH_TOKEN=\(gh)")
        #expect(envRight)
        #expect(!Marker.appears(in: tool.stdout + tool.stderr))
    }

    @Test func timesOutNamingTheMissingSecretWithoutRunningTheCommand() throws {
        let fixture = try Fixture(manifestBody: "[secrets.gh]\n\n[secrets.npm_token]\n")
        try fixture.broker.push([("gh", Marker.make("gh"))])

        let run = try fixture.exec(["--retry-seconds", "1"])

        #expect(run.exitCode == 75, "\(run.status): \(run.stderr)")
        #expect(run.stderr.contains("npm_token"), "\(run.stderr)")
        #expect(!run.stderr.contains("gh ("), "names a secret that is there: \(run.stderr)")
        #expect(!fixture.commandRan)
        #expect(!Marker.appears(in: run.output))
    }

    @Test func timesOutNamingAnAbsentSocket() throws {
        let fixture = try Fixture(manifestBody: "[secrets.gh]\n")
        let absent = fixture.results.file("no-such/sock")
        let run = try fixture.exec(["--retry-seconds", "1"], socket: absent)
        #expect(run.exitCode == 75, "\(run.status): \(run.stderr)")
        #expect(run.stderr.contains(absent), "\(run.stderr)")
        #expect(!fixture.commandRan)
    }

    /// (manifest template, pushed set, what the error must name)
    static let placeholderCases: [(String, String, [String])] = [
        ("id={{aws_access_key_id}} token={{aws_session_token}}",
         "{\"cred\":{\"aws_access_key_id\":\"\(Marker.make("id"))\"}}", ["cred", "{{aws_session_token}}", "field"]),
        ("_authToken={{token}}", "{\"cred\":\"\(Marker.make("npm"))\"}", ["cred", "{{token}}", "{{value}}"]),
    ]

    @Test(arguments: 0..<placeholderCases.count)
    func placeholderWithoutAMatchingFieldIsAnErrorNamingBoth(_ index: Int) throws {
        let (template, pushed, named) = Self.placeholderCases[index]
        let shm = try #require(FilesystemKind.memoryDirectory, "no tmpfs directory on this machine")
        let fixture = try Fixture(manifestBody: """
            [secrets.cred]
            fetch_as = "file"
            file_path = "~/.config/cred"
            file_mode = "0600"
            template = "\(template)"
            """, homeIn: shm)
        try fixture.broker.pushJSON(pushed)

        let run = try fixture.exec(["--retry-seconds", "0"])

        #expect(run.exitCode == 1, "\(run.status): \(run.stderr)")
        for text in named { #expect(run.stderr.contains(text), "\(run.stderr)") }
        #expect(!FileSystem.exists(fixture.home.file(".config/cred")))
        #expect(!fixture.commandRan)
        #expect(!Marker.appears(in: run.output))
    }

    /// Bindings are checked and rendered before anything is written: a bad later binding
    /// leaves no file from an earlier, good one.
    @Test func aBadBindingLeavesNoEarlierFileBehind() throws {
        let shm = try #require(FilesystemKind.memoryDirectory, "no tmpfs directory on this machine")
        let fixture = try Fixture(manifestBody: """
            [secrets.a_good]
            fetch_as = "file"
            file_path = "~/.config/good"
            file_mode = "0600"
            template = "{{value}}"

            [secrets.b_bad]
            fetch_as = "file"
            file_path = "~/.config/bad"
            file_mode = "0600"
            template = "{{missing_field}}"
            """, homeIn: shm)
        try fixture.broker.pushJSON("{\"a_good\":\"\(Marker.make("good"))\",\"b_bad\":\"\(Marker.make("bad"))\"}")

        let run = try fixture.exec(["--retry-seconds", "0"])

        #expect(run.exitCode == 1, "\(run.status): \(run.stderr)")
        #expect(run.stderr.contains("b_bad"))
        #expect(!FileSystem.exists(fixture.home.file(".config/good")))
        #expect(!fixture.commandRan)
    }
}
