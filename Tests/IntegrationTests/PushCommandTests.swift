import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `remo-broker push [FILE|-] [--format json|env]` through the CLI. The parsing edge cases
/// are unit tests (SecretSetFileTests); here: files, stdin, detection, failures.
@Suite struct PushCommandTests {
    final class Fixture {
        let broker: BrokerProcess
        let files: TempDirectory
        let project = "push-demo"

        init() throws {
            broker = try BrokerProcess(binary: TestBinary.path)
            files = try TempDirectory(prefix: "rbp")
            try broker.start()
            try broker.registerProject(project, secrets: ["gh", "npm", "aws"])
        }

        func push(_ arguments: [String]) throws -> CLIRun {
            try runCLI(["push"] + arguments + ["--socket-dir", broker.socketDir])
        }

        func holds(_ name: String, _ value: String) -> Bool { broker.secret(name, of: project, equals: value) }
    }

    @Test func envFileFromAPathAndFromStandardInput() throws {
        let fixture = try Fixture()
        let gh = Marker.make("gh"), npm = Marker.make("npm")
        let file = try fixture.files.write("secrets.env", """
            # sidecar export
            export gh="\(gh)"
            npm='\(npm)'   # scoped token
            """, mode: 0o600)

        let fromFile = try fixture.push([file, "--format", "env"])
        #expect(fromFile.exitCode == 0, "\(fromFile.stderr)")
        #expect(fromFile.stdout.hasPrefix("pushed 2 secret(s), loaded at 20"), "\(fromFile.stdout)")
        let held = fixture.holds("gh", gh) && fixture.holds("npm", npm)
        #expect(held)

        let other = Marker.make("stdin")
        let second = try fixture.files.write("second.env", "gh=\(other)\n", mode: 0o600)
        let piped = try ChildProcess.run("/bin/sh", ["-c", "exec \"$0\" push - --format env --socket-dir \"$1\" < \"$2\"",
                                                     TestBinary.path, fixture.broker.socketDir, second],
                                         environment: toolEnvironment())
        #expect(piped.status.exitCode == 0, "\(String(decoding: piped.stderr, as: UTF8.self))")
        // A push replaces the whole set: npm is gone.
        let replaced = fixture.holds("gh", other) && fixture.broker.secretCount() == 1
        #expect(replaced)
        #expect(!Marker.appears(in: fromFile.output + String(decoding: piped.stdout + piped.stderr, as: UTF8.self)))
    }

    @Test func formatIsDetectedWhenNotGiven() throws {
        let fixture = try Fixture()
        let gh = Marker.make("gh"), key = Marker.make("key")
        let json = try fixture.files.write("set.json", "\n  {\"gh\":\"\(gh)\",\"aws\":{\"key\":\"\(key)\"}}\n", mode: 0o600)
        let run = try fixture.push([json])
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(fixture.broker.secretCount() == 2)

        let env = try fixture.files.write("set.env", "npm=\(Marker.make("npm"))\n", mode: 0o600)
        #expect(try fixture.push([env]).exitCode == 0)
        #expect(fixture.broker.secretCount() == 1)

        // Forced JSON on KEY=VALUE text fails as JSON.
        let forced = try fixture.push([env, "--format", "json"])
        #expect(forced.exitCode == 65)
        #expect(forced.stderr.contains("not valid JSON"), "\(forced.stderr)")
        #expect(!Marker.appears(in: run.output + forced.output))
    }

    @Test func aBadSetIsRefusedNamingTheLineAndTheStoreKept() throws {
        let fixture = try Fixture()
        let gh = Marker.make("gh")
        try fixture.broker.push([("gh", gh)])
        let bad = try fixture.files.write("bad.env", "gh=\(Marker.make("new"))\nnpm=\"\(Marker.make("open"))\n", mode: 0o600)

        let run = try fixture.push([bad, "--format", "env"])
        #expect(run.exitCode == 65, "\(run.status)")
        #expect(run.stderr.contains("bad.env") && run.stderr.contains("line 2"), "\(run.stderr)")
        #expect(!Marker.appears(in: run.output))
        let kept = fixture.holds("gh", gh)
        #expect(kept, "a refused push changed the store")
    }

    @Test func usageAndInputErrors() throws {
        let fixture = try Fixture()
        let env = try fixture.files.write("set.env", "gh=x\n", mode: 0o600)
        #expect(try fixture.push([env, "--format", "yaml"]).exitCode == 64)
        let missing = try fixture.push([fixture.files.file("absent.env"), "--format", "env"])
        #expect(missing.exitCode == 66)
        #expect(missing.stderr.contains("absent.env"))
        let unreachable = try runCLI(["push", env, "--socket-dir", fixture.files.file("no-broker")])
        #expect(unreachable.exitCode == 69, "\(unreachable.status): \(unreachable.stderr)")
    }
}
