import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `remo-broker watch`: the sidecar pusher, run for real against a broker child. What the
/// broker holds is checked with `get` on a project socket (compared, never printed).
@Suite struct WatchTests {
    final class Fixture {
        let broker: BrokerProcess
        let files: TempDirectory
        let project = "watch-demo"

        init(secrets: [String]) throws {
            broker = try BrokerProcess(binary: TestBinary.path)
            files = try TempDirectory(prefix: "rbw")
            try broker.start()
            try broker.registerProject(project, secrets: secrets)
        }

        var setPath: String { files.file("secrets/set") }

        /// Replaces the secret set the way editors and secret tools do: a new file in the
        /// same directory renamed over the old one.
        func renameReplace(_ text: String) throws {
            try FileSystem.createDirectories(files.file("secrets"), mode: 0o700)
            let temp = files.file("secrets/.set.tmp")
            try FileSystem.writeAtomically(temp, Array(text.utf8), mode: 0o600)
            guard rename(temp, setPath) == 0 else { throw SystemError("rename", subject: setPath) }
        }

        func watch(_ source: [String]) throws -> RunningTool {
            try RunningTool(["watch"] + source + ["--debounce-ms", "50", "--socket-dir", broker.socketDir],
                            in: files, name: "watch")
        }

        func holds(_ name: String, _ value: String) -> Bool { broker.secret(name, of: project, equals: value) }

        func notPushedLines(_ tool: RunningTool) -> Int {
            tool.stderr.split(separator: "\n").filter { $0.contains(": not pushed") }.count
        }

        /// Number of "pushed N secret(s)" lines the watcher has logged.
        func pushLines(_ tool: RunningTool) -> Int {
            tool.stderr.split(separator: "\n").filter { $0.contains(": pushed ") }.count
        }
    }

    @Test func renameReplaceOfTheFileTriggersAPush() throws {
        let fixture = try Fixture(secrets: ["gh", "npm"])
        let first = Marker.make("first"), second = Marker.make("second"), npm = Marker.make("npm")
        try FileSystem.createDirectories(fixture.files.file("secrets"), mode: 0o700)
        // Started before the file exists: nothing to push yet, then the file appears.
        let tool = try fixture.watch(["--file", fixture.setPath])
        #expect(eventually { tool.stderr.contains("not pushed") }, "\(tool.stderr)")
        try fixture.renameReplace("gh=\(first)\n")
        let firstHeld = eventually { fixture.holds("gh", first) }
        #expect(firstHeld, "the initial set was not pushed: \(tool.stderr)")

        try fixture.renameReplace("# rotated\nexport gh='\(second)'\nnpm=\"\(npm)\"\n")
        let secondHeld = eventually { fixture.holds("gh", second) && fixture.holds("npm", npm) }
        #expect(secondHeld, "the replaced file was not pushed: \(tool.stderr)")
        #expect(fixture.broker.secretCount() == 2)

        // A JSON set written in place (no rename) is seen too.
        let third = Marker.make("third")
        let fd = open(fixture.setPath, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        Array("{\"gh\":\"\(third)\"}".utf8).withUnsafeBytes { Console.writeAll(fd, $0) }
        close(fd)
        let thirdHeld = eventually { fixture.holds("gh", third) }
        #expect(thirdHeld, "an in-place write was not pushed: \(tool.stderr)")
        #expect(fixture.broker.secretCount() == 1)

        #expect(tool.stop(SIGTERM)?.exitCode == 0)
        #expect(tool.stderr.contains("pushed 2 secret(s)"), "\(tool.stderr)")
        #expect(!Marker.appears(in: tool.stdout + tool.stderr), "a value reached watch's output")
    }

    @Test(arguments: [SIGKILL, SIGTERM])
    func restartedBrokerGetsTheSetAgain(_ stopSignal: Int32) throws {
        let fixture = try Fixture(secrets: ["gh"])
        let value = Marker.make("gh")
        try fixture.renameReplace("gh=\(value)\n")
        let tool = try fixture.watch(["--file", fixture.setPath])
        let pushed = eventually { fixture.holds("gh", value) }
        #expect(pushed, "\(tool.stderr)")

        for round in 1...2 {
            let pushesBefore = fixture.pushLines(tool)
            try fixture.broker.stop(signal: stopSignal)
            try fixture.broker.start()  // same socket, state and audit dirs; the store starts empty
            let restarted = Monotonic.nanoseconds()
            // The product re-pushes within ~250 ms (the watcher's poll); the deadline is generous
            // so a loaded machine cannot make this flaky. The measured time is in the message.
            let again = eventually { fixture.holds("gh", value) }
            let elapsed = Double(Monotonic.nanoseconds() - restarted) / 1e9
            #expect(again, "round \(round): no re-push after the broker restarted (\(elapsed) s): \(tool.stderr)")
            #expect(eventually { fixture.pushLines(tool) > pushesBefore }, "\(tool.stderr)")
        }
        #expect(tool.stop(SIGTERM)?.exitCode == 0)
        #expect(!Marker.appears(in: tool.stdout + tool.stderr))
    }

    @Test func aChangeWhileTheBrokerIsDownIsPushedWhenItIsBack() throws {
        let fixture = try Fixture(secrets: ["gh"])
        let old = Marker.make("old"), new = Marker.make("new")
        try fixture.renameReplace("gh=\(old)\n")
        let tool = try fixture.watch(["--file", fixture.setPath])
        let pushed = eventually { fixture.holds("gh", old) }
        #expect(pushed, "\(tool.stderr)")

        try fixture.broker.stop(signal: SIGKILL)  // leaves a stale admin.sock behind
        try fixture.renameReplace("gh=\(new)\n")
        #expect(eventually { tool.stderr.contains("retrying until the broker answers") }, "\(tool.stderr)")
        usleep(1_500_000)  // several retry rounds while nobody answers
        try fixture.broker.start()
        let repushed = eventually { fixture.holds("gh", new) }
        #expect(repushed, "\(tool.stderr)")
        #expect(tool.stop(SIGTERM)?.exitCode == 0)
        let retryLines = tool.stderr.split(separator: "\n").filter { $0.contains("retrying") }.count
        #expect(retryLines == 1, "the outage was logged \(retryLines) times")
    }

    @Test func aBadFileIsReportedAndThePreviousSetKept() throws {
        let fixture = try Fixture(secrets: ["gh"])
        let good = Marker.make("good"), bad = Marker.make("bad"), fixed = Marker.make("fixed")
        try fixture.renameReplace("gh=\(good)\n")
        let tool = try fixture.watch(["--file", fixture.setPath])
        let pushed = eventually { fixture.holds("gh", good) }
        #expect(pushed, "\(tool.stderr)")

        // Line 2 never closes its quote; line 1 would be a valid new value.
        try fixture.renameReplace("gh=\(bad)\nother=\"\(bad)\n")
        #expect(eventually { tool.stderr.contains("not pushed") }, "\(tool.stderr)")
        let kept = fixture.holds("gh", good)
        #expect(kept, "the broker lost the previous set")
        #expect(tool.stderr.contains("line 2"), "\(tool.stderr)")
        #expect(tool.stderr.contains("keeps its previous set"), "\(tool.stderr)")

        // Not JSON either: reported, previous set still in force.
        try fixture.renameReplace("{\"gh\": \"\(bad)\"")
        #expect(eventually { fixture.notPushedLines(tool) >= 2 }, "\(tool.stderr)")
        let stillKept = fixture.holds("gh", good)
        #expect(stillKept)

        try fixture.renameReplace("gh=\(fixed)\n")
        let recovered = eventually { fixture.holds("gh", fixed) }
        #expect(recovered, "a good set after a bad one was not pushed: \(tool.stderr)")
        #expect(tool.stop(SIGTERM)?.exitCode == 0)
        #expect(!Marker.appears(in: tool.stdout + tool.stderr), "a value reached watch's log")
    }

    @Test func commandModePushesTheCommandsOutput() throws {
        let fixture = try Fixture(secrets: ["gh", "aws"])
        let gh = Marker.make("gh"), key = Marker.make("key")
        // The values live in a file the command prints, never in watch's own argv.
        let source = try fixture.files.write("vault/export.json", "{\"gh\":\"\(gh)\",\"aws\":{\"key\":\"\(key)\"}}", mode: 0o600)
        let mask = fixture.files.file("command.sigblk")
        let tool = try fixture.watch(["--command", "grep '^SigBlk' /proc/self/status > '\(mask)'; cat '\(source)'"])
        let pushed = eventually { fixture.holds("gh", gh) }
        #expect(pushed, "\(tool.stderr)")
        // watch blocks SIGTERM/SIGINT for itself; its command must not inherit that.
        #expect(RunningTool.read(mask) == "SigBlk:\t0000000000000000\n")
        #expect(fixture.broker.secretCount() == 2)
        #expect(tool.stop(SIGTERM)?.exitCode == 0)
        #expect(tool.stderr.contains("pushed 2 secret(s)"), "\(tool.stderr)")

        // A failing command pushes nothing: the set stays.
        let failing = try RunningTool(["watch", "--command", "echo gh=x; exit 3", "--socket-dir", fixture.broker.socketDir],
                                      in: fixture.files, name: "failing")
        #expect(eventually { failing.stderr.contains("not pushed") }, "\(failing.stderr)")
        #expect(failing.stderr.contains("exit 3"), "\(failing.stderr)")
        let kept = fixture.holds("gh", gh)
        #expect(kept)
        #expect(failing.stop(SIGTERM)?.exitCode == 0)
        #expect(!Marker.appears(in: tool.stdout + tool.stderr + failing.stdout + failing.stderr))
    }

    @Test func usageErrors() throws {
        let neither = try runCLI(["watch"])
        #expect(neither.exitCode == 64)
        #expect(neither.stderr.contains("--file"))
        let both = try runCLI(["watch", "--file", "/x", "--command", "true"])
        #expect(both.exitCode == 64)
        let badDebounce = try runCLI(["watch", "--file", "/x", "--debounce-ms", "soon"])
        #expect(badDebounce.exitCode == 64)
    }
}
