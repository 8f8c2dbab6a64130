import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The shipped systemd unit: systemd accepts it, scores it safe, and it never takes away
/// what the broker needs (its syscalls, its locked memory, its SPEC §2 directories).
@Suite struct SystemdUnitTests {
    /// The exposure score the docs record; raise it only with a reason written there.
    static let maximumExposure = 0.5

    @Test func systemdVerifiesTheUnit() throws {
        let directory = try TempDirectory(prefix: "unit")
        let unit = try SystemdUnit().copy(into: directory, binary: TestBinary.path)
        // --man=no: the man page is installed by the .deb, not on the build machine.
        let output = try SystemdUnit.tool("systemd-analyze", ["verify", "--man=no", unit], allowFailure: true)
        #expect(output.isEmpty, "systemd-analyze verify: \(output)")
    }

    @Test func exposureScoreIsSafeAndRecordedInTheDocs() throws {
        let report = try SystemdUnit.tool("systemd-analyze", ["security", "--offline=yes", "--no-pager", SystemdUnit.path])
        let marker = "Overall exposure level for remo-broker.service: "
        guard let line = report.split(separator: "\n").first(where: { $0.contains(marker) }),
              let score = line.split(separator: ":").last?.split(separator: " ").first.flatMap({ Double($0) })
        else {
            Issue.record("no exposure level in: \(report)")
            return
        }
        #expect(score <= Self.maximumExposure, "exposure \(score) > \(Self.maximumExposure):\n\(report)")
        let recorded = "**\(score)**"
        let docs = String(decoding: try FileSystem.readFile(SystemdUnit.repository + "/docs/security.md"), as: UTF8.self)
        #expect(docs.contains(recorded), "docs/security.md must record the exposure score as \(recorded)")
        #expect(try SystemdUnit().text.contains("scores it \(score)"), "the unit's header comment must say \"scores it \(score)\"")
    }

    @Test func unitFilterAllowsEverySyscallOfTheBinarysOwnFilter() throws {
        let allowed = try SystemdUnit().allowedSyscalls()
        // clone3 too: the broker answers it with ENOSYS, but a kill from the unit's filter
        // would win over that errno (the kernel applies the strictest action).
        let missing = SyscallAllowlist.rules.map(\.name).filter { !allowed.contains($0) }
        #expect(missing.isEmpty, "the unit's SystemCallFilter= kills syscalls the broker's allowlist needs: \(missing)")
        // What the broker does before its own filter loads: limits, locking, the filter itself.
        // glibc's setrlimit is the prlimit64 syscall (the traced session below proves it), so
        // the unit may deny the setrlimit syscall with the rest of @resources.
        let startup = ["prlimit64", "prctl", "mlock2", "madvise", "mmap", "capget", "capset", "seccomp",
                       "signalfd4", "epoll_create1", "umask", "chown", "lchown"]
        #expect(startup.filter { !allowed.contains($0) }.isEmpty, "startup syscalls killed by the unit")
    }

    /// Every syscall a whole broker session makes (start, register, push, get, status,
    /// unregister, SIGTERM stop), traced with strace, must pass the unit's filter.
    @Test func unitFilterAllowsAWholeTracedSession() throws {
        let strace = "/usr/bin/strace"
        guard access(strace, X_OK) == 0 else { throw HarnessError("strace is not installed (make deps-packaging)") }
        let allowed = try SystemdUnit().allowedSyscalls()
        let root = try TempDirectory(prefix: "trace")
        let trace = root.file("trace")
        let wrapper = try root.write("traced-broker", "#!/bin/sh\nexec \(strace) -f -qq -o \(trace) \(TestBinary.path) \"$@\"\n", mode: 0o755)
        let broker = try BrokerProcess(binary: wrapper, arguments: Broker.unlimited, root: root)
        try broker.start(timeoutSeconds: 30)
        let socket = try broker.registerProject("traced", secrets: ["gh"])
        try broker.push([("gh", secret("trace"))])
        #expect(try BrokerConnection(path: socket).request(op: "get", [("name", "gh")]).ok)
        #expect(try broker.admin().request(op: "status").ok)
        #expect(try broker.admin().request(op: "unregister", [("name", "traced")]).ok)
        // The child of strace is the broker: stop it, strace then exits with it.
        let children = String(decoding: try FileSystem.readFile("/proc/\(broker.pid!)/task/\(broker.pid!)/children"), as: UTF8.self)
        guard let brokerPID = children.split(separator: " ").first.flatMap({ pid_t($0) }) else {
            Issue.record("no traced broker under strace (\(children))")
            return
        }
        kill(brokerPID, SIGTERM)
        #expect(try broker.waitForExit().exitCode == 0, "\(broker.stderrText)")

        var seen = Set<String>()
        for line in String(decoding: try FileSystem.readFile(trace), as: UTF8.self).split(separator: "\n") {
            // "1234 openat(AT_FDCWD, ..." — skip "<... resumed>", signals and exits.
            let call = line.drop { $0 != " " }.drop { $0 == " " }.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !call.isEmpty, line.drop(while: { $0 != " " }).drop(while: { $0 == " " }).dropFirst(call.count).first == "(" {
                seen.insert(String(call))
            }
        }
        // strace shows buffers: the trace is no output of the broker, and must not stay behind.
        unlink(trace)
        #expect(seen.count > 20, "too few syscalls traced: \(seen.sorted())")
        let killed = seen.subtracting(allowed).sorted()
        #expect(killed.isEmpty, "the unit's SystemCallFilter= would kill the broker on: \(killed)")
    }

    @Test func memlockLimitCoversTheDefaultArena() throws {
        let unit = try SystemdUnit()
        let limit = unit.value("LimitMEMLOCK").flatMap(SystemdUnit.bytes)
        let arena = BrokerConfig(environment: Environment(uid: 0, variables: [:])).secretArenaBytes
        #expect(arena == SecretArena.defaultCapacity)
        #expect((limit ?? 0) >= arena, "LimitMEMLOCK=\(unit.value("LimitMEMLOCK") ?? "-") is below the \(arena)-byte arena")
        #expect(unit.value("MemorySwapMax") == "0")
    }

    /// The unit's directories are SPEC §2's root paths, and the shipped config names the same.
    @Test func directoriesMatchTheSpecAndTheShippedConfig() throws {
        let unit = try SystemdUnit()
        let root = DefaultPaths(Environment(uid: 0, variables: [:]))
        #expect(unit.value("RuntimeDirectory").map { "/run/" + $0 } == root.socketDir)
        #expect(unit.value("StateDirectory").map { "/var/lib/" + $0 } == root.stateDir)
        #expect(unit.value("LogsDirectory").map { "/var/log/" + $0 } == FileSystem.parentDirectory(root.auditLogPath(stateDir: root.stateDir)))
        #expect(unit.value("ConfigurationDirectory").map { "/etc/" + $0 } == FileSystem.parentDirectory(root.configFile))
        #expect(unit.value("ExecStart") == "/usr/bin/remo-broker serve --config \(root.configFile)")
        // `systemctl reload` re-reads the [units] tables (SPEC §12).
        #expect(unit.value("ExecReload") == "/bin/kill -HUP $MAINPID")
        // Devcontainers bind-mount projects/<name>: systemd must not delete the socket dir on a
        // stop or restart, or every mount would point at a removed directory (SPEC §2).
        #expect(unit.value("RuntimeDirectoryPreserve") == "yes")

        // The shipped config loads (no unknown key) and, for the service user (not root),
        // still lands on the root paths the unit creates.
        let config = try ConfigLoader.load(file: SystemdUnit.repository + "/packaging/config.toml", flags: [],
                                           allowUnlockedMemory: false, environment: Environment(uid: 999, variables: ["HOME": "/nonexistent"]))
        #expect(config.socketDir == root.socketDir)
        #expect(config.stateDir == root.stateDir)
        #expect(config.auditLogPath == root.auditLogPath(stateDir: root.stateDir))
        #expect(config.secretArenaBytes == SecretArena.defaultCapacity)
    }

    @Test func sandboxDirectivesThatTheIssueRequiresArePresent() throws {
        let unit = try SystemdUnit()
        let required = ["Type": "notify", "PrivateNetwork": "yes", "RestrictAddressFamilies": "AF_UNIX",
                        "ProtectSystem": "strict", "CapabilityBoundingSet": "", "NoNewPrivileges": "yes",
                        "Restart": "on-failure", "User": "remo-broker"]
        for (key, value) in required {
            #expect(unit.value(key) == value, "\(key)=\(unit.value(key) ?? "(missing)"), expected \(value)")
        }
        #expect(unit.value("ProtectHome") != nil)
        // Peer uids must be real ones (allowed_uids, audit): a private user namespace would
        // show every peer as the overflow uid.
        #expect(unit.value("PrivateUsers") == nil)
    }
}
