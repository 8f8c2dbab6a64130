import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `exec --watch` and `sync` (SPEC §10) against a real broker child. Values are markers,
/// compared to Bools, never printed.
@Suite struct RotationToolTests {
    /// CMD: records its pid and env, counts SIGHUPs, exits 0 on SIGTERM.
    static let supervisedScript = """
        out="$1"
        trap 'echo hup >> "$out/hups"' HUP
        trap 'echo term >> "$out/terms"; exit 0' TERM
        echo $$ >> "$out/pids"
        env > "$out/env.$$"
        while :; do sleep 0.05; done
        """

    final class Fixture {
        let broker: BrokerProcess
        let results: TempDirectory
        let home: TempDirectory
        let project = "rot-demo"

        /// `gh` as env `GH_TOKEN`, `npm` as the file `~/.npmrc` (on tmpfs).
        init() throws {
            let shm = try #require(FilesystemKind.memoryDirectory, "no tmpfs directory on this machine")
            broker = try BrokerProcess(binary: TestBinary.path, arguments: Broker.unlimited)
            results = try TempDirectory(prefix: "rbr")
            home = try TempDirectory(prefix: "rbh", in: shm)
            try broker.start()
            try broker.registerProject(project, secrets: [], manifest: """
                schema_version = 1
                project = "\(project)"

                [secrets.gh]
                env_var = "GH_TOKEN"

                [secrets.npm]
                fetch_as = "file"
                file_path = "~/.npmrc"
                file_mode = "0600"
                template = "token={{value}}"
                """)
            // A second project whose secret changes must never reach this one.
            try broker.registerProject("rot-other", secrets: ["other"])
        }

        var environment: [String] { toolEnvironment(home: home.path, ["REMO_BROKER_SOCKET": broker.projectSocket(project)]) }
        var npmrc: String { RunningTool.read(home.file(".npmrc")) }
        func lines(_ name: String) -> [String] { RunningTool.read(results.file(name)).split(separator: "\n").map(String.init) }
        var pids: [String] { lines("pids") }
        func commandEnvironment(_ pid: String) -> [String] { lines("env.\(pid)") }

        func push(gh: String, npm: String, other: String = "o") throws {
            try broker.push([("gh", gh), ("npm", npm), ("other", other)])
        }

        func watch(_ options: [String] = []) throws -> RunningTool {
            try RunningTool(["exec", "--watch"] + options + ["--", "/bin/sh", "-c", RotationToolTests.supervisedScript, "cmd", results.path],
                            environment: environment, in: results, name: "exec")
        }
    }

    @Test func syncOnceWritesTheFileBindingsOnly() throws {
        let fixture = try Fixture()
        let npm = Marker.make("npm")
        try fixture.broker.push([("npm", npm)])  // gh (env) not pushed: sync does not need it
        let run = try runCLI(["sync", "--once", "--retry-seconds", "0"], environment: fixture.environment)
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(fixture.npmrc == "token=\(npm)", "file not delivered")
        #expect(fileMode(fixture.home.file(".npmrc")) == 0o600)
        #expect(!Marker.appears(in: run.output))
    }

    @Test func syncGivesUpWithExit75WhenNothingArrives() throws {
        let fixture = try Fixture()
        let run = try runCLI(["sync", "--once", "--retry-seconds", "0"], environment: fixture.environment)
        #expect(run.exitCode == 75, "\(run.stderr)")
        #expect(run.stderr.contains("npm"))
        #expect(!FileSystem.exists(fixture.home.file(".npmrc")))
    }

    @Test func syncKeepsTheFileCurrentAndExitsZeroOnSigterm() throws {
        let fixture = try Fixture()
        try fixture.push(gh: Marker.make("gh"), npm: Marker.make("npm1"))
        let sync = try RunningTool(["sync"], environment: fixture.environment, in: fixture.results, name: "sync")
        #expect(eventually { fixture.npmrc.hasPrefix("token=") })
        for round in 2...4 {
            let npm = Marker.make("npm\(round)")
            try fixture.push(gh: Marker.make("gh"), npm: npm)
            #expect(eventually { fixture.npmrc == "token=\(npm)" }, "rotation \(round) not delivered")
        }
        #expect(sync.stop(SIGTERM)?.exitCode == 0)
        #expect((try? FileSystem.listDirectory(fixture.home.path))?.filter { $0.hasPrefix(".npmrc") } == [".npmrc"])
        #expect(!Marker.appears(in: sync.stdout + sync.stderr))
        let syncInt = try RunningTool(["sync"], environment: fixture.environment, in: fixture.results, name: "sync2")
        #expect(eventually { syncInt.stderr.contains("following") })
        #expect(syncInt.stop(SIGINT)?.exitCode == 0)
    }

    @Test func fileChangeRewritesAndSignalsEnvChangeRestartsNoChangeDoesNothing() throws {
        let fixture = try Fixture()
        let gh1 = Marker.make("gh1"), npm1 = Marker.make("npm1")
        try fixture.push(gh: gh1, npm: npm1)
        let exec = try fixture.watch(["--signal", "HUP"])
        #expect(eventually { fixture.pids.count == 1 && !fixture.commandEnvironment(fixture.pids[0]).isEmpty })
        let first = try #require(fixture.pids.first)
        #expect(fixture.commandEnvironment(first).contains("GH_TOKEN=\(gh1)"))
        #expect(fixture.npmrc == "token=\(npm1)")

        // Identical values, and another project's secret changing: nothing for this project.
        let revision = try RotationTests.revision(fixture.broker, fixture.project)
        try fixture.push(gh: gh1, npm: npm1)
        try fixture.push(gh: gh1, npm: npm1, other: "o2")
        #expect(try RotationTests.revision(fixture.broker, fixture.project) == revision)

        // A file change: rewritten, then one SIGHUP; CMD keeps running (same pid).
        let npm2 = Marker.make("npm2")
        try fixture.push(gh: gh1, npm: npm2, other: "o2")
        #expect(eventually { fixture.npmrc == "token=\(npm2)" && fixture.lines("hups").count == 1 })
        #expect(fixture.pids == [first])

        // An env change: CMD stopped with SIGTERM and started again with the new value; no SIGHUP.
        let gh2 = Marker.make("gh2")
        try fixture.push(gh: gh2, npm: npm2, other: "o2")
        #expect(eventually { fixture.pids.count == 2 && !fixture.commandEnvironment(fixture.pids[1]).isEmpty })
        #expect(fixture.lines("terms").count == 1)
        #expect(fixture.commandEnvironment(fixture.pids[1]).contains("GH_TOKEN=\(gh2)"))
        #expect(fixture.lines("hups").count == 1, "the identical pushes or the env change sent a signal")
        #expect(fixture.pids.count == 2, "restarted more than once")

        // Stop: SIGTERM forwarded, CMD exits 0, so does exec.
        #expect(exec.stop(SIGTERM)?.exitCode == 0)
        #expect(fixture.lines("terms").count == 2)
        #expect(!Marker.appears(in: exec.stdout + exec.stderr), "a value reached exec's output")
    }

    @Test func aBurstOfChangesIsAppliedAtOnceThenTogether() throws {
        let fixture = try Fixture()
        let gh = Marker.make("gh")
        try fixture.push(gh: gh, npm: Marker.make("npm0"))
        let exec = try fixture.watch(["--signal", "1"])
        #expect(eventually { fixture.pids.count == 1 })
        var last = ""
        for round in 1...6 {
            last = Marker.make("npm\(round)")
            try fixture.push(gh: gh, npm: last)
        }
        #expect(eventually { fixture.npmrc == "token=\(last)" })
        #expect(eventually { !fixture.lines("hups").isEmpty })
        // Six pushes back to back: the first applied at once, the rest together (a stalled
        // machine may split them further, but never into one signal per push).
        #expect(fixture.lines("hups").count < 6)
        #expect(exec.stop(SIGTERM)?.exitCode == 0)
    }

    @Test func ignoreKeepsCommandRunningOnEnvChange() throws {
        let fixture = try Fixture()
        try fixture.push(gh: Marker.make("gh1"), npm: Marker.make("npm1"))
        let exec = try fixture.watch(["--on-env-change", "ignore"])
        #expect(eventually { fixture.pids.count == 1 })
        try fixture.push(gh: Marker.make("gh2"), npm: Marker.make("npm1"))
        #expect(eventually { exec.stderr.contains("--on-env-change ignore") })
        #expect(fixture.pids.count == 1 && fixture.lines("terms").isEmpty)
        #expect(exec.stop(SIGTERM)?.exitCode == 0)
        #expect(!Marker.appears(in: exec.stdout + exec.stderr))
    }

    @Test func brokerRestartIsFollowedWithoutTouchingTheCommand() throws {
        let fixture = try Fixture()
        let npm1 = Marker.make("npm1")
        try fixture.push(gh: Marker.make("gh1"), npm: npm1)
        let exec = try fixture.watch(["--signal", "SIGHUP"])
        #expect(eventually { fixture.pids.count == 1 })

        // Restart: nothing pushed yet, so both secrets are missing: last values kept, warned by name.
        _ = try fixture.broker.stop()
        try fixture.broker.start()
        #expect(eventually { exec.stderr.contains("warning: gh is missing") && exec.stderr.contains("warning: npm is missing") },
                "\(exec.stderr)")
        #expect(fixture.npmrc == "token=\(npm1)", "the last value was not kept")
        #expect(fixture.pids.count == 1 && fixture.lines("hups").isEmpty && fixture.lines("terms").isEmpty)

        // The sidecar pushes again: a new file value is delivered (and signalled), CMD untouched by the same env.
        let npm2 = Marker.make("npm2")
        let gh1 = try #require(fixture.commandEnvironment(fixture.pids[0]).first { $0.hasPrefix("GH_TOKEN=") }).dropFirst(9)
        try fixture.push(gh: String(gh1), npm: npm2)
        #expect(eventually { fixture.npmrc == "token=\(npm2)" && fixture.lines("hups").count == 1 })
        #expect(fixture.pids.count == 1)
        #expect(exec.stop(SIGTERM)?.exitCode == 0)
        #expect(!Marker.appears(in: exec.stdout + exec.stderr))
    }

    @Test func exitStatusIsTheCommandsAnd128PlusSignal() throws {
        let fixture = try Fixture()
        try fixture.push(gh: Marker.make("gh"), npm: Marker.make("npm"))
        let exits = try RunningTool(["exec", "--watch", "--", "/bin/sh", "-c", "exit 3"],
                                    environment: fixture.environment, in: fixture.results, name: "exits")
        #expect(exits.waitForExit()?.exitCode == 3)
        let sleeper = try RunningTool(["exec", "--watch", "--", "/bin/sh", "-c", "echo $$ >> \"$1/pids\"; exec sleep 1000", "cmd", fixture.results.path],
                                      environment: fixture.environment, in: fixture.results, name: "sleeper")
        #expect(eventually { fixture.pids.count == 1 })  // CMD started: exec's signals are taken by now
        #expect(sleeper.stop(SIGUSR1)?.exitCode == 128 + SIGUSR1)
    }

    @Test(arguments: [["--signal", "NOPE"], ["--on-env-change", "sometimes"], ["--grace-seconds", "-1"]])
    func badWatchOptionsAreUsageErrors(_ options: [String]) throws {
        let run = try runCLI(["exec", "--watch"] + options + ["--", "true"])
        #expect(run.exitCode == 64, "\(run.stderr)")
    }
}
