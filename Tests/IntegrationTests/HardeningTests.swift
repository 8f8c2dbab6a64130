import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// SPEC §7 steps 2, 4 and 5, checked on real broker child processes (never in the test
/// runner itself: it must not install a filter or lose its capabilities). Run as root.
@Suite struct HardeningTests {
    static let zeroMask = "0000000000000000"

    // MARK: what the kernel shows

    @Test func servingBrokerShowsEveryProtectionInProc() throws {
        let broker = try LaunchedBroker()
        try broker.start()
        let status = broker.procStatus
        #expect(status["Seccomp"] == "2")
        #expect(status["NoNewPrivs"] == "1")
        for set in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
            #expect(status[set] == Self.zeroMask, "\(set) = \(status[set] ?? "?")")
        }
        let lockedKiB = Int(status["VmLck"]?.split(separator: " ").first ?? "") ?? 0
        #expect(lockedKiB > 0, "VmLck = \(status["VmLck"] ?? "?")")

        // Every thread, the audit writer included (TSYNC; credentials are per thread).
        let threads = broker.threadStatuses
        #expect(threads.count >= 2, "expected the main thread and the audit writer")
        for thread in threads {
            #expect(thread["Seccomp"] == "2" && thread["NoNewPrivs"] == "1", "thread \(thread["Pid"] ?? "?")")
            for set in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
                #expect(thread[set] == Self.zeroMask, "thread \(thread["Pid"] ?? "?") \(set)")
            }
        }

        // status agrees with the kernel.
        #expect(try broker.hardening() == ["memory_locked": true, "seccomp": true, "capabilities_dropped": true,
                                           "no_new_privs": true, "dumpable": false])
        // broker.started carries the same block.
        let started = broker.layout.waitForAudit { AuditFile.events($0).contains("broker.started") }
        #expect(started.contains { $0.contains("\"event\":\"broker.started\"")
                && $0.contains("\"hardening\":{\"memory_locked\":true,\"seccomp\":true,\"capabilities_dropped\":true,\"no_new_privs\":true,\"dumpable\":false}") })
        #expect(try broker.stop().exitCode == 0)
    }

    @Test func aCrashLeavesNoCoreFile() throws {
        for signal in [SIGSEGV, SIGQUIT] {
            let broker = try LaunchedBroker()
            let directory = broker.layout.root.path
            // cwd = the temp root, where core_pattern "core" would put a core file.
            try broker.start(prefix: ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory])
            let limits = String(decoding: try FileSystem.readFile("/proc/\(broker.pid)/limits"), as: UTF8.self)
            let coreLine = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }.map(String.init) ?? ""
            #expect(coreLine.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(coreLine)")
            #expect(try broker.hardening()["dumpable"] == false)
            let signals = broker.procStatus
            // SIGHUP (1), SIGINT (2), SIGUSR1 (10), SIGUSR2 (12), SIGTERM (15): taken by the signalfd.
            #expect(signals["SigBlk"] == "0000000000004a03", "blocked: \(signals["SigBlk"] ?? "?") (only HUP, INT, USR1, USR2, TERM)")
            let ignored = UInt64(signals["SigIgn"] ?? "", radix: 16) ?? 0
            #expect(ignored & (1 << UInt64(signal - 1)) == 0, "signal \(signal) ignored: SigIgn \(signals["SigIgn"] ?? "?")")

            let status = try broker.stop(signal: signal)
            #expect(status.signal == signal, "\(status)")
            #expect(!status.dumpedCore, "\(status)")
            let cores = try FileSystem.listDirectory(directory).filter { $0.hasPrefix("core") }
            #expect(cores.isEmpty, "\(cores)")
        }
    }

    // MARK: the filter

    #if DEBUG
    @Test(.enabled(if: binaryHasDebugAttempt, "needs a debug build of remo-broker"), arguments: ForbiddenOperation.forbidden)
    func forbiddenOperationKillsTheHardenedBroker(_ operation: ForbiddenOperation) throws {
        let broker = try LaunchedBroker(["--debug-attempt", operation.rawValue])
        try broker.launch()
        let status = try #require(broker.exitStatus(waitingSeconds: 20), "broker still running: \(broker.stderrText)")
        #expect(status.signal == SIGSYS, "\(operation.rawValue): \(status); stderr: \(broker.stderrText)")
        #expect(!status.dumpedCore)
        // It was hardened first, and the attempt never returned.
        #expect(broker.stderrText.contains("hardening: seccomp filter:"))
        #expect(!broker.stderrText.contains("debug-attempt \(operation.rawValue):"))
    }

    @Test(.enabled(if: binaryHasDebugAttempt, "needs a debug build of remo-broker"))
    func clone3AnswersENOSYSAndThreadsStillWork() throws {
        for (operation, outcome) in [(ForbiddenOperation.clone3, "clone3: failed: errno 38"),
                                     (.thread, "thread: created and joined")] {
            let broker = try LaunchedBroker(["--debug-attempt", operation.rawValue])
            try broker.start()
            #expect(broker.stderrText.contains("debug-attempt \(outcome)"), "\(broker.stderrText)")
            #expect(try broker.hardening()["seccomp"] == true)
            #expect(try broker.stop().exitCode == 0)
        }
    }

    @Test(.enabled(if: binaryHasDebugAttempt, "needs a debug build of remo-broker"))
    func logModeLogsInsteadOfKilling() throws {
        let broker = try LaunchedBroker(["--seccomp", "log", "--debug-attempt", "socket-inet"])
        try broker.start()
        #expect(broker.stderrText.contains("debug-attempt socket-inet: succeeded"), "\(broker.stderrText)")
        #expect(broker.stderrText.contains("is logged (--seccomp=log)"))
        #expect(try broker.hardening()["seccomp"] == true)
        #expect(try broker.stop().exitCode == 0)
    }
    #endif

    /// The forbidden-operation hook is compiled into debug builds only.
    @Test(.enabled(if: !binaryHasDebugAttempt, "the binary under test is a debug build"))
    func releaseBuildRefusesTheDebugAttemptOption() throws {
        let result = try ChildProcess.run(TestBinary.path, ["serve", "--debug-attempt", "fork"])
        #expect(result.status.exitCode == 64)
        #expect(String(decoding: result.stderr, as: UTF8.self).contains("unknown option --debug-attempt"))
    }

    /// Every path of the daemon under `--seccomp=kill` (the default): if one needed a syscall
    /// outside the allowlist, the broker would die with SIGSYS and this test would see it.
    @Test func everyOperationWorksUnderTheKillFilter() throws {
        let broker = try LaunchedBroker(["--idle-timeout-seconds", "2", "--max-connections-per-project", "2"])
        let layout = broker.layout
        let notify = try DatagramReceiver(path: layout.root.file("notify.sock"))
        var environment = currentEnvironment().filter { !$0.hasPrefix("NOTIFY_SOCKET=") }
        environment.append("NOTIFY_SOCKET=\(notify.path)")
        try broker.start(environment: environment)
        func expectAlive(_ step: String) {
            #expect(broker.isRunning, "broker died after \(step): \(broker.stderrText)")
        }

        var step = "start"
        do {
            step = "register: plain, with allowed_uids, with socket_gid (chown to an own group)"
            let alpha = try layout.registerProject("alpha", secrets: ["gh", "aws"])
            let betaPath = try ProjectFixture.create(in: layout.root, name: "beta", secrets: ["gh"])
            let beta = try layout.admin().request(requestLine {
                $0.field("op", "register"); $0.field("name", "beta"); $0.field("project_path", betaPath)
                $0.key("allowed_uids"); $0.beginArray(); $0.int(4242); $0.endArray()
            })
            #expect(beta.ok, "\(beta.text)")
            let gammaPath = try ProjectFixture.create(in: layout.root, name: "gamma", secrets: ["gh"])
            let gamma = try layout.admin().request(requestLine {
                $0.field("op", "register"); $0.field("name", "gamma"); $0.field("project_path", gammaPath)
                $0.field("socket_gid", Int(getegid()))
            })
            #expect(gamma.ok, "\(gamma.text)")
            expectAlive("register")

            step = "push-creds (scalar and bundle), then the data plane"
            let push = try layout.admin().request(requestLine {
                $0.field("op", "push-creds"); $0.key("secrets"); $0.beginObject()
                $0.field("gh", "ghp_under_filter"); $0.key("aws"); $0.beginObject(); $0.field("k", "v"); $0.endObject()
                $0.endObject()
            })
            #expect(push.ok, "\(push.text)")
            // A new connection per request: a stalled test machine must not trip the idle timeout.
            func ask(_ op: String, _ fields: [(String, String)] = []) throws -> Reply {
                try BrokerConnection(path: alpha).request(op: op, fields)
            }
            #expect(try ask("ping").ok)
            #expect(try ask("info").ok)
            #expect(try ask("get", [("name", "gh")]).string("value") == "ghp_under_filter")
            #expect(try ask("get", [("name", "aws")]).ok)
            #expect(try ask("get", [("name", "nope")]).code == "denied")
            #expect(try BrokerConnection(path: layout.projectSocket("beta")).request(op: "ping").code == "peer_unexpected")
            expectAlive("get")

            step = "wait: parked, answered by a push, a timeout and pipelined requests behind it"
            do {  // the connection closes at the end: the limits step below counts connections
            let waiter = try BrokerConnection(path: alpha)
            let revision = try #require(try waiter.request(op: "info").string("revision"))
            try waiter.send(Array("{\"op\":\"wait\",\"revision\":\"\(revision)\"}\n{\"op\":\"ping\"}".utf8))
            let repush = try layout.admin().request(requestLine {
                $0.field("op", "push-creds"); $0.key("secrets"); $0.beginObject()
                $0.field("gh", "ghp_rotated"); $0.key("aws"); $0.beginObject(); $0.field("k", "v"); $0.endObject()
                $0.endObject()
            })
            #expect(repush.ok, "\(repush.text)")
            #expect(try waiter.receive().document["changed"] == .bool(true))
            #expect(try waiter.receive().ok)
            let current = try #require(try waiter.request(op: "info").string("revision"))
            #expect(try waiter.request(Array("{\"op\":\"wait\",\"revision\":\"\(current)\",\"timeout_seconds\":1}".utf8)).document["changed"] == .bool(false))
            }
            expectAlive("wait")

            step = "invalid requests: protocol_error keeps the connection, payload_too_large closes it"
            let project = try BrokerConnection(path: alpha)
            try project.send(Array("not json".utf8))
            #expect(try project.receive().code == "protocol_error")
            // One write, newline included: the broker may answer and close as soon as it has
            // seen 64 KiB + 1, so a separate write of the newline could meet a closed socket.
            try project.send([UInt8](repeating: UInt8(ascii: "x"), count: 70_000) + [0x0A])
            #expect(try project.receive().code == "payload_too_large")
            expectAlive("invalid requests")

            step = "connection limits and the idle sweep"
            let held = try (0..<2).map { _ in try BrokerConnection(path: alpha) }
            for connection in held { #expect(try connection.request(op: "ping").ok) }
            #expect(try BrokerConnection(path: alpha).receive().code == "too_many_connections")
            usleep(4_500_000)  // idle_timeout_seconds = 2, swept once a second
            for connection in held { #expect(throws: (any Error).self) { try connection.request(op: "ping") } }
            expectAlive("limits")

            step = "reload a changed manifest"
            try layout.root.write("projects/alpha/.remo/manifest.toml", ProjectFixture.defaultManifest(name: "alpha", secrets: ["gh", "aws", "npm"]))
            let reload = try layout.admin().request(op: "reload", [("name", "alpha")])
            #expect(reload.ok && reload.text.contains("\"npm\""), "\(reload.text)")

            step = "audit rotation: moving the file away, the next event recreates it"
            _ = layout.waitForAudit { $0.contains { $0.contains("project.reloaded") } }
            #expect(rename(layout.auditLogPath, layout.auditLogPath + ".1") == 0)
            #expect(try ask("get", [("name", "gh")]).ok)
            let rotated = layout.waitForAudit { AuditFile.events($0).contains("fetch") }
            #expect(AuditFile.events(rotated).contains("fetch"), "audit log not recreated after rotation")
            expectAlive("audit rotation")

            step = "stop and continue (a timed wait resumes through restart_syscall)"
            kill(broker.pid, SIGSTOP)
            usleep(200_000)
            kill(broker.pid, SIGCONT)
            #expect(try layout.admin().request(op: "status").ok)

            step = "clear-creds, unregister"
            #expect(try layout.admin().request(op: "clear-creds").ok)
            #expect(try ask("get", [("name", "gh")]).code == "not_found")
            #expect(try layout.admin().request(op: "unregister", [("name", "beta")]).ok)
            #expect(!FileSystem.exists(layout.socketDir + "/projects/beta"))
            #expect(try broker.hardening() == ["memory_locked": true, "seccomp": true, "capabilities_dropped": true,
                                               "no_new_privs": true, "dumpable": false])
            expectAlive("clear-creds, unregister")

            step = "SIGTERM: drain, broker.stopping, admin socket removed, exit 0"
            let status = try broker.stop()
            #expect(status.exitCode == 0, "\(status): \(broker.stderrText)")
            #expect(!FileSystem.exists(layout.adminSocket))
            let events = AuditFile.events(layout.auditLines())
            #expect(events.last == "broker.stopping", "\(events)")

            step = "sd_notify: READY (with MAINPID) and STOPPING reached the socket"
            let messages = notify.drain()
            #expect(messages.contains { $0.hasPrefix("READY=1") && $0.contains("MAINPID=") }, "\(messages)")
            #expect(messages.contains("STOPPING=1"), "\(messages)")
        } catch {
            let exit = broker.exitStatus(waitingSeconds: 0).map { "\($0)" } ?? "still running"
            Issue.record("failed at \"\(step)\": \(error); broker \(exit); stderr: \(broker.stderrText)")
        }
    }

    // MARK: privileges

    @Test func rootBrokerSwitchesToTheConfiguredUserAndKeepsWorking() throws {
        let broker = try LaunchedBroker(["--user", "nobody"])
        let layout = broker.layout
        try broker.start()
        for thread in broker.threadStatuses {
            #expect(thread["Uid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"], "\(thread["Uid"] ?? "?")")
            #expect(thread["Gid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"], "\(thread["Gid"] ?? "?")")
            #expect(thread["Groups"]?.trimmingSpaces == "65534", "\(thread["Groups"] ?? "?")")
        }
        #expect(try broker.hardening() == ["memory_locked": true, "seccomp": true, "capabilities_dropped": true,
                                           "no_new_privs": true, "dumpable": false])
        #expect(broker.stderrText.contains("running as nobody (uid 65534"))

        // register as nobody, with the socket's group set to nobody's own group
        let path = try ProjectFixture.create(in: layout.root, name: "alpha", secrets: ["gh"])
        let register = try layout.admin().request(requestLine {
            $0.field("op", "register"); $0.field("name", "alpha"); $0.field("project_path", path); $0.field("socket_gid", 65534)
        })
        #expect(register.ok, "\(register.text)")
        let socketOwner = owner(layout.projectSocket("alpha"))
        #expect(socketOwner?.uid == 65534 && socketOwner?.gid == 65534)
        #expect(owner(layout.stateDir + "/registry.json")?.uid == 65534)
        try layout.push([("gh", "ghp_as_nobody")])
        #expect(try BrokerConnection(path: layout.projectSocket("alpha")).request(op: "get", [("name", "gh")]).string("value") == "ghp_as_nobody")
        #expect(try layout.admin().request(op: "reload", [("name", "alpha")]).ok)
        _ = try layout.registerProject("beta", secrets: ["gh"])

        // audit rotation: nobody recreates the file in the directory it was given
        _ = layout.waitForAudit { $0.contains { $0.contains("\"project\":\"beta\"") } }
        #expect(rename(layout.auditLogPath, layout.auditLogPath + ".1") == 0)
        #expect(try layout.admin().request(op: "unregister", [("name", "beta")]).ok)
        let rotated = layout.waitForAudit { AuditFile.events($0).contains("project.unregistered") }
        #expect(AuditFile.events(rotated).contains("project.unregistered"), "\(broker.stderrText)")
        #expect(owner(layout.auditLogPath)?.uid == 65534)
        #expect(!FileSystem.exists(layout.socketDir + "/projects/beta"))
        #expect(try broker.stop().exitCode == 0, "\(broker.stderrText)")
        #expect(!FileSystem.exists(layout.adminSocket))

        // restart (as root again, switching again): alpha comes back from the registry
        let again = try LaunchedBroker(["--user", "65534:65534"], root: layout.root)
        try again.start()
        #expect(again.procStatus["Uid"]?.split(separator: "\t").first == "65534")
        try again.layout.push([("gh", "ghp_after_restart")])
        #expect(try BrokerConnection(path: layout.projectSocket("alpha")).request(op: "get", [("name", "gh")]).string("value") == "ghp_after_restart")
        #expect(try again.stop().exitCode == 0)
    }

    @Test func unknownUserIsFatal() throws {
        let broker = try LaunchedBroker(["--user", "no-such-remo-user"])
        try broker.launch()
        let status = try #require(broker.exitStatus(waitingSeconds: 15))
        #expect(status.exitCode == 1)
        #expect(broker.stderrText.contains("user no-such-remo-user"), "\(broker.stderrText)")
        #expect(!FileSystem.exists(broker.layout.adminSocket))
    }

    /// A developer's broker (not root): no CAP_SETPCAP, so the bounding set stays full.
    /// Strict accepts that because the process holds no capability and can never gain one;
    /// status says `capabilities_dropped: false` because that is what the kernel shows.
    @Test func nonRootBrokerStartsStrictWithTheBoundingSetLeftAsIs() throws {
        let broker = try LaunchedBroker(["--secret-arena-bytes", "32768"])
        try handOver(broker.layout.root.path, to: 65534, 65534)
        // A small arena, so any RLIMIT_MEMLOCK default a distribution ships (64 KiB and up) holds it.
        try broker.start(prefix: asUser(65534, 65534))
        let status = broker.procStatus
        #expect(status["Uid"]?.split(separator: "\t").first == "65534")
        for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] { #expect(status[set] == Self.zeroMask, "\(set)") }
        #expect(status["CapBnd"] != Self.zeroMask)
        #expect(status["Seccomp"] == "2" && status["NoNewPrivs"] == "1")
        #expect(try broker.hardening() == ["memory_locked": true, "seccomp": true, "capabilities_dropped": false,
                                           "no_new_privs": true, "dumpable": false])
        #expect(broker.stderrText.contains("bounding set left as is"))
        _ = try broker.layout.registerProject("alpha", secrets: ["gh"])
        #expect(try broker.stop().exitCode == 0)
    }

    /// A capability the process holds but cannot drop from the bounding set (non-root with
    /// an ambient capability): strict refuses, naming the step and errno; best-effort warns
    /// and serves, and status tells the truth.
    @Test func anUndroppableCapabilityIsFatalInStrictAndReportedInBestEffort() throws {
        let prefix = asUser(65534, 65534, extra: ["--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service"])
        let strict = try LaunchedBroker()
        try handOver(strict.layout.root.path, to: 65534, 65534)
        try strict.launch(prefix: prefix)
        let status = try #require(strict.exitStatus(waitingSeconds: 15))
        #expect(status.exitCode == 1)
        #expect(strict.stderrText.contains("hardening step \"clear capability bounding set\" failed"), "\(strict.stderrText)")
        #expect(strict.stderrText.contains("errno 1"), "\(strict.stderrText)")
        #expect(!FileSystem.exists(strict.layout.adminSocket), "a failed start leaves no admin socket")

        let lenient = try LaunchedBroker(["--hardening", "best-effort"])
        try handOver(lenient.layout.root.path, to: 65534, 65534)
        try lenient.start(prefix: prefix)
        #expect(lenient.stderrText.contains("WARNING: hardening step \"clear capability bounding set\" failed"))
        let hardening = try lenient.hardening()
        #expect(hardening["capabilities_dropped"] == false)
        #expect(hardening["seccomp"] == true && hardening["no_new_privs"] == true)
        #expect(lenient.procStatus["CapAmb"] == Self.zeroMask && lenient.procStatus["CapEff"] == Self.zeroMask)
        #expect(try lenient.stop().exitCode == 0)
    }

    /// `ulimit -l` too small. Root has CAP_IPC_LOCK (mlock ignores the limit), so the broker
    /// runs as nobody with RLIMIT_MEMLOCK 0.
    @Test func tooSmallMemlockLimitIsFatalUnlessUnlockedMemoryIsAllowed() throws {
        let prefix = ["/usr/bin/prlimit", "--memlock=0:0"] + asUser(65534, 65534)
        let strict = try LaunchedBroker()
        try handOver(strict.layout.root.path, to: 65534, 65534)
        try strict.launch(prefix: prefix)
        let status = try #require(strict.exitStatus(waitingSeconds: 15))
        #expect(status.exitCode == 1)
        #expect(strict.stderrText.contains("mlock"), "\(strict.stderrText)")
        #expect(!FileSystem.exists(strict.layout.adminSocket))

        let allowed = try LaunchedBroker(["--allow-unlocked-memory"])
        try handOver(allowed.layout.root.path, to: 65534, 65534)
        try allowed.start(prefix: prefix)
        #expect(allowed.stderrText.contains("secret memory is not locked"))
        #expect(try allowed.hardening()["memory_locked"] == false)
        #expect(allowed.procStatus["VmLck"]?.split(separator: " ").first == "0")
        #expect(try allowed.stop().exitCode == 0)
    }

    private func owner(_ path: String) -> (uid: UInt32, gid: UInt32)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid)
    }
}
