import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// SPEC §13 rows 6–8 of issue 12 and the signals note: what a local user (or a hostile
/// manifest) can do to the broker's host-side setup. Run as root (other uids via setpriv
/// or chown); figures are printed as `hostile-tenant:` lines.
@Suite(.enabled(if: geteuid() == 0, "needs root: directories owned by other uids, setpriv, prlimit on the broker"))
struct HostileHostTests {
    static let squatter: UInt32 = 4242

    // MARK: row 6: socket directories

    @Test(arguments: ["owned by another uid", "group-writable", "a symlink"])
    func brokerRefusesASocketDirItDoesNotOwnPrivately(_ setup: String) throws {
        let broker = try LaunchedBroker()
        let directory = broker.layout.socketDir
        let expected: String
        switch setup {
        case "owned by another uid":
            #expect(mkdir(directory, 0o755) == 0 && chown(directory, Self.squatter, Self.squatter) == 0)
            expected = "is owned by uid \(Self.squatter)"
        case "group-writable":
            #expect(mkdir(directory, 0o700) == 0 && chmod(directory, 0o770) == 0)
            expected = "writable by group or others"
        default:
            #expect(mkdir(broker.layout.root.file("elsewhere"), 0o700) == 0)
            #expect(symlink(broker.layout.root.file("elsewhere"), directory) == 0)
            expected = "is a symlink"
        }
        try broker.launch()
        let status = try #require(broker.exitStatus(waitingSeconds: 15))
        #expect(status.exitCode == 1, "\(status)")
        #expect(broker.stderrText.contains(directory) && broker.stderrText.contains(expected), "\(broker.stderrText)")
        #expect(!FileSystem.exists(directory + "/admin.sock"))
    }

    @Test func nonRootAdminSocketDefaultsTo0600AndAnExplicitModeIsHonoured() throws {
        for (arguments, mode) in [([String](), UInt32(0o600)), (["--admin-socket-mode", "0660"], UInt32(0o660))] {
            let broker = try LaunchedBroker(arguments + ["--allow-unlocked-memory"])
            try handOver(broker.layout.root.path, to: 65534, 65534)
            try broker.start(prefix: asUser(65534, 65534))
            let socket = try FileStatus.of(broker.layout.adminSocket)
            #expect(socket.permissions == mode, "admin.sock mode \(ConfigKeys.octal(socket.permissions)), want \(ConfigKeys.octal(mode))")
            #expect(try broker.stop().exitCode == 0)
        }
    }

    /// Another user pre-creates the client's socket dir and listens there: `push` and
    /// `status` refuse to talk, naming the directory and its owner; nothing reaches it.
    @Test func clientsRefuseAnAdminSocketInAnotherUsersDirectory() throws {
        let root = try TempDirectory(prefix: "rb-squat")
        let directory = root.file("remo-broker-squatted")
        #expect(mkdir(directory, 0o755) == 0 && chown(directory, Self.squatter, Self.squatter) == 0)
        let listener = try UnixSocket.listen(at: directory + "/admin.sock", mode: 0o666)
        defer { close(listener) }
        try root.write("set.json", "{\"gh\":\"\(secret("squat"))\"}")
        for command in [["push", root.file("set.json")], ["status"]] {
            let result = try CommandRunner.run(TestBinary.path, command + ["--socket-dir", directory])
            #expect(result.exitCode != 0, "\(command[0]) talked to the squatter: \(result)")
            #expect(result.stderrText.contains(directory) && result.stderrText.contains("uid \(Self.squatter)"), "\(result)")
            expectNoSecret(result.stdout + result.stderr, "\(command[0]) output")
        }
        #expect(try UnixSocket.accept(listener) == nil, "a client connected to the squatter's socket")
        HostileTenantTests.report("row 6 squatted socket dir", "push and status refused before connecting; broker refuses "
            + "a socket dir owned by another uid, group-writable or a symlink")
    }

    // MARK: row 7: descriptors

    @Test func descriptorLimitIsRaisedAndMaxConnectionsMustFit() throws {
        let raised = try LaunchedBroker()
        try raised.start(prefix: ["/usr/bin/prlimit", "--nofile=256:4096"])
        #expect(Self.openFilesLimit(raised.pid) == "4096 4096", "soft limit not raised to the hard limit")
        #expect(try raised.stop().exitCode == 0)

        let refused = try LaunchedBroker(["--max-connections", "1000"])
        try refused.launch(prefix: ["/usr/bin/prlimit", "--nofile=256:256"])
        #expect(try #require(refused.exitStatus(waitingSeconds: 15)).exitCode == 1)
        #expect(refused.stderrText.contains("max_connections 1000 plus 32 reserved descriptors exceeds RLIMIT_NOFILE 256"),
                "\(refused.stderrText)")

        let lowered = try LaunchedBroker()
        try lowered.start(prefix: ["/usr/bin/prlimit", "--nofile=256:256"])
        #expect(lowered.stderrText.contains("max_connections lowered from 1024 to 224"), "\(lowered.stderrText)")
        #expect(try lowered.stop().exitCode == 0)
    }

    /// Out of descriptors: each new connection is accepted with the reserve, answered and
    /// closed (before, the loop spun on the readable listener); held connections are served.
    @Test func outOfDescriptorsAcceptsAndClosesInsteadOfSpinning() throws {
        let broker = try Broker.withProject("victim", secrets: ["a"], values: [("a", secret("a"))])
        let pid = try #require(broker.pid)
        let held = try broker.connect(project: "victim", timeoutSeconds: 10)
        #expect(valueMatches(try held.request(op: "get", [("name", "a")]), secret("a")))
        // The soft limit at the lowest free descriptor number: every new descriptor is EMFILE.
        let open = Set(((try? FileSystem.listDirectory("/proc/\(pid)/fd")) ?? []).compactMap { Int($0) })
        let lowestFree = (0...).first { !open.contains($0) }!
        #expect(try CommandRunner.run("/usr/bin/prlimit", ["--pid", String(pid), "--nofile=\(lowestFree):"]).exitCode == 0)

        let cpuBefore = Self.cpuTicks(pid)
        var refused = 0
        for _ in 0..<50 {
            let connection = try BrokerConnection(path: broker.projectSocket("victim"), timeoutSeconds: 2)
            if let reply = try? connection.receive(), reply.code == "too_many_connections",
               connection.waitForClose(timeoutSeconds: 5) != .stillOpen { refused += 1 }
        }
        usleep(2_000_000)  // idle: a spinning loop would burn these two seconds
        let cpu = Self.cpuTicks(pid) - cpuBefore
        #expect(refused == 50, "\(refused) of 50 connections answered and closed")
        #expect(valueMatches(try held.request(op: "get", [("name", "a")]), secret("a")), "held connection not served")
        let logLines = broker.stderrText.split(separator: "\n").filter { $0.contains("out of file descriptors") }.count
        #expect(logLines >= 1 && logLines <= 4, "\(logLines) out-of-descriptor lines for 50 refusals")
        #expect(cpu < 150, "the broker used \(cpu) ticks of CPU while out of descriptors (spinning?)")

        #expect(try CommandRunner.run("/usr/bin/prlimit", ["--pid", String(pid), "--nofile=1024:"]).exitCode == 0)
        #expect(try broker.connect(project: "victim").request(op: "ping").ok, "not served once descriptors are free again")
        HostileTenantTests.report("row 7 out of descriptors", "50/50 refused and closed, \(logLines) log line(s), "
            + "\(cpu * 10) ms CPU over ~2.5 s while out of descriptors")
    }

    static func openFilesLimit(_ pid: pid_t) -> String {
        let limits = String(decoding: (try? FileSystem.readFile("/proc/\(pid)/limits")) ?? [], as: UTF8.self)
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2).joined(separator: " ")
    }

    /// utime + stime of `pid`, in clock ticks (1/100 s).
    static func cpuTicks(_ pid: pid_t) -> Int {
        let stat = String(decoding: (try? FileSystem.readFile("/proc/\(pid)/stat")) ?? [], as: UTF8.self)
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13 else { return 0 }
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    // MARK: row 8: stderr

    /// A manifest key with a newline in it cannot start a forged line on stderr.
    @Test func aNewlineInAManifestKeyCannotForgeALogLine() throws {
        let broker = try Broker.start()
        let forged = "remo-broker: FORGED all secrets pushed"
        let path = try ProjectFixture.create(in: broker.root, name: "forger", secrets: [],
                                             manifest: manifest("forger", "\"x\\n\(forged)\" = 1\n"))
        let result = try CommandRunner.run(TestBinary.path, ["register", "forger", path, "--socket-dir", broker.socketDir])
        #expect(result.exitCode != 0, "\(result)")
        let lines = result.stderrText.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1, "\(lines.count) stderr lines: \(result.stderrText)")
        #expect(!lines.contains { $0.hasPrefix("remo-broker: FORGED") })
        #expect(!broker.stderrText.split(separator: "\n").contains { $0.hasPrefix("remo-broker: FORGED") })
        HostileTenantTests.report("row 8 newline in a manifest key", "client stderr: \(lines.count) line(s), newline escaped")
    }

    // MARK: signals

    @Test func hangupAndUserSignalsNeverEndTheBroker() throws {
        let broker = try LaunchedBroker()
        try broker.start()
        for signal in [SIGHUP, SIGUSR1, SIGUSR2, SIGHUP] { kill(broker.pid, signal) }
        #expect(Poll.until { broker.stderrText.contains("[units] reloaded from") }, "\(broker.stderrText)")
        #expect(broker.isRunning, "a signal ended the broker: \(broker.stderrText)")
        #expect(try broker.status().ok)
        #expect(FileSystem.exists(broker.layout.adminSocket))
        #expect(try broker.stop().exitCode == 0)
    }
}
