import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// Start, configuration and orderly stop of `remo-broker serve` (SPEC §7).
@Suite struct LifecycleTests {
    /// In-flight replies are delivered after SIGTERM/SIGINT: the client pipelines many large
    /// gets, reads one (so the broker is busy with them), the signal arrives while most
    /// replies are still unsent or unprocessed, then the client reads them all.
    @Test(arguments: [SIGTERM, SIGINT])
    func stopSignalDrainsInFlightRepliesAndExitsCleanly(_ signal: Int32) throws {
        let big = secret("drain_") + String.filler(20_000)
        let broker = try Broker.withProject("drained", secrets: ["big"], values: [("big", big)], arguments: Broker.unlimited)
        let connection = try broker.connect(project: "drained", timeoutSeconds: 10)
        let count = 100
        try connection.send(Array(String(repeating: "{\"op\":\"get\",\"name\":\"big\"}\n", count: count).utf8))
        var delivered = valueMatches(try connection.receive(), big) ? 1 : 0

        let child = try #require(broker.child)
        child.signal(signal)
        #expect(Poll.until { !FileSystem.exists(broker.adminSocket) }, "admin socket not removed on \(signal)")
        #expect((try? BrokerConnection(path: broker.projectSocket("drained"))) == nil, "still accepting while draining")

        for _ in 1..<count {
            guard let reply = try? connection.receive() else { break }
            if valueMatches(reply, big) { delivered += 1 }
        }
        #expect(delivered == count, "only \(delivered) of \(count) in-flight replies delivered")
        #expect(connection.waitForClose(timeoutSeconds: 10) == .closed(discardedBytes: 0))

        let status = try broker.waitForExit()
        #expect(status.exitCode == 0, "\(status)")
        #expect(!FileSystem.exists(broker.adminSocket))
        let events = broker.auditEvents()
        let last = try #require(events.last)
        #expect(last.event == "broker.stopping", "\(last)")
        #expect(last["reason"]?.string == (signal == SIGINT ? "SIGINT" : "SIGTERM"))
        #expect(last["version"]?.string == BrokerVersion.version)
        #expect(last["pid"]?.int == Int(child.pid))
        #expect(events.filter { $0.event == "fetch" }.count == count)
        // Project registrations survive the stop.
        let registry = String(decoding: (try? FileSystem.readFile(broker.stateDir + "/registry.json")) ?? [], as: UTF8.self)
        #expect(registry.contains("drained"))
    }

    /// A client that never reads cannot hold the stop beyond `shutdown_drain_seconds`.
    @Test func drainIsBoundedByShutdownDrainSeconds() throws {
        let big = secret("stuck_") + String.filler(60_000)
        let broker = try Broker.withProject("stuck", secrets: ["big"], values: [("big", big)],
                                            arguments: Broker.unlimited + ["--shutdown-drain-seconds", "1"])
        let hog = try broker.connect(project: "stuck")
        _ = hog.sendWithoutBlocking(Array(String(repeating: "{\"op\":\"get\",\"name\":\"big\"}\n", count: 200).utf8))
        #expect(Poll.until { ((try? broker.status())?.project("stuck")?["cache_entries"]?.int ?? 0) == 1 })
        let child = try #require(broker.child)
        child.signal(SIGTERM)
        #expect(Poll.until(timeoutSeconds: 10) { kill(child.pid, 0) != 0 || isZombie(child.pid) },
                "broker still running 10 s after SIGTERM with a 1 s drain")
        #expect(try broker.waitForExit().exitCode == 0)
        #expect(broker.auditEvents().last?.event == "broker.stopping")
    }

    @Test func startupIsAuditedWithVersionPidAndHardening() throws {
        let broker = try Broker.start()
        let started = try #require(broker.waitForAuditEvent { $0.event == "broker.started" })
        #expect(started["pid"]?.int == Int(broker.pid ?? -1))
        #expect(started["version"]?.string == BrokerVersion.version)
        let hardening = try #require(started["hardening"])
        #expect(hardening == (try broker.status())["hardening"], "status and broker.started disagree on hardening")
    }

    /// "Remove stale sockets" must not take a live broker's sockets away: a second broker on
    /// the same socket dir refuses to start, and the first keeps serving.
    @Test func secondBrokerOnTheSameSocketDirRefusesToStart() throws {
        let first = try Broker.withProject("owned", secrets: ["a"], values: [("a", secret("first"))])
        let second = try CommandRunner.run(TestBinary.path, first.serveArguments, timeoutSeconds: 3)
        #expect(!second.timedOut, "a second broker started on a socket dir in use")
        #expect(second.exitCode != 0, "\(second.status)")
        let status = try? first.status()
        #expect(status?["secret_count"]?.int == 1, "the admin socket no longer reaches the first broker")
        let reply = try? first.connect(project: "owned").request(op: "get", [("name", "a")])
        #expect(reply.map { valueMatches($0, secret("first")) } == true, "the project socket no longer reaches the first broker")
    }

    // MARK: configuration

    static func serve(_ broker: BrokerProcess, _ arguments: [String]) throws -> CommandRunner.Result {
        try CommandRunner.run(TestBinary.path, broker.serveArguments + arguments, timeoutSeconds: 10)
    }

    @Test func unknownKeyInConfigFileIsFatalAndNamed() throws {
        let broker = try BrokerProcess(binary: TestBinary.path)
        let config = try broker.root.write("config.toml", "idle_timeout_seconds = 5\nbogus_key = 1\n")
        let result = try Self.serve(broker, ["--config", config])
        #expect(!result.timedOut, "serve started despite a bad config")
        #expect(result.exitCode != 0 && result.exitCode != nil, "\(result.status)")
        #expect(result.stderrText.contains("bogus_key"), "\(result.stderrText)")
        #expect(result.stderrText.contains("\(config):2:1"), "\(result.stderrText)")
        #expect(!FileSystem.exists(broker.adminSocket))
    }

    @Test func badValueInConfigFileIsFatalAndNamed() throws {
        let broker = try BrokerProcess(binary: TestBinary.path)
        let config = try broker.root.write("config.toml", "\nmax_connections = \"many\"\n")
        let result = try Self.serve(broker, ["--config", config])
        #expect(!result.timedOut && result.exitCode != 0, "\(result.status)")
        #expect(result.stderrText.contains("\(config):2:1") && result.stderrText.contains("max_connections"), "\(result.stderrText)")
    }

    @Test func missingNamedConfigFileIsFatal() throws {
        let broker = try BrokerProcess(binary: TestBinary.path)
        let missing = broker.root.file("no-such-config.toml")
        let result = try Self.serve(broker, ["--config", missing])
        #expect(!result.timedOut, "serve started without its named config")
        #expect(result.exitCode != 0 && result.exitCode != nil, "\(result.status)")
        #expect(result.stderrText.contains(missing), "\(result.stderrText)")
    }

    @Test func unknownServeFlagIsAUsageError() throws {
        let broker = try BrokerProcess(binary: TestBinary.path)
        let result = try Self.serve(broker, ["--no-such-flag", "1"])
        #expect(!result.timedOut && result.exitCode == 64, "\(result.status)")
        #expect(result.stderrText.contains("--no-such-flag"), "\(result.stderrText)")
    }

    /// Flags win over the config file, which wins over the defaults.
    @Test(arguments: [([String](), 2), (["--rate-limit-burst", "4"], 4)])
    func configFileAppliesAndFlagsWin(_ flags: [String], _ burst: Int) throws {
        let root = try TempDirectory(prefix: "rb")
        let config = try root.write("config.toml", "rate_limit_per_second = 1\nrate_limit_burst = 2\n")
        let broker = try BrokerProcess(binary: TestBinary.path, arguments: ["--config", config] + flags, root: root)
        try broker.start()
        try broker.registerProject("configured", secrets: ["a"])
        try broker.push([("a", secret("a"))])
        let connection = try broker.connect(project: "configured")
        try connection.send(Array(String(repeating: "{\"op\":\"get\",\"name\":\"a\"}\n", count: burst + 1).utf8))
        let codes = try connection.receive(count: burst + 1).map { $0.code ?? "ok" }
        #expect(codes == Array(repeating: "ok", count: burst) + ["rate_limited"])
    }
}

/// True when `pid` has exited but not been reaped yet.
func isZombie(_ pid: pid_t) -> Bool {
    guard let bytes = try? FileSystem.readFile("/proc/\(pid)/stat") else { return false }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return false }
    return text[text.index(after: close)...].hasPrefix(" Z")
}
