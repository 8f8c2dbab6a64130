import CSeccomp
import Glibc

/// `remo-broker serve`: the ordered start of SPEC §7, the serving loop, the orderly stop.
public enum Daemon {
    public struct StartupError: Error, CustomStringConvertible {
        public let step: String
        public let detail: String
        public var description: String { "\(step): \(detail)" }
    }

    /// Runs the broker until SIGTERM/SIGINT. Returns the process exit code.
    public static func run(_ config: BrokerConfig) -> Int32 {
        do {
            return try serve(config)
        } catch {
            Console.error("remo-broker: cannot start: \(error)")
            return 1
        }
    }

    private static func serve(_ config: BrokerConfig) throws(StartupError) -> Int32 {
        // Step 2: no core files, not dumpable/ptrace-attachable by the same uid, private files.
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        guard setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore) == 0 else { throw fail("RLIMIT_CORE=0", SystemError("setrlimit")) }
        guard remo_set_dumpable(0) == 0 else { throw fail("PR_SET_DUMPABLE=0", SystemError("prctl")) }
        umask(0o077)
        let arena: SecretArena
        do {
            arena = try SecretArena(capacity: config.secretArenaBytes, requireLock: !config.allowUnlockedMemory)
        } catch {
            throw StartupError(step: "secret arena", detail: error.description)
        }
        if let lockError = arena.lockError {
            Console.error("remo-broker: WARNING: secret memory is not locked (\(lockError)); continuing because of --allow-unlocked-memory")
        }

        // Signals are taken through a signalfd: block them before any thread exists so every
        // thread inherits the mask.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGTERM, SIGINT] { sigaddset(&stopSignals, signal) }
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)

        // Step 3: audit log, sockets, registry.
        let audit: AuditLog
        do {
            try FileSystem.createDirectories(FileSystem.parentDirectory(config.auditLogPath), mode: 0o700)
            audit = try AuditLog(path: config.auditLogPath)
        } catch {
            throw fail("audit log \(config.auditLogPath)", error)
        }
        let server: BrokerServer
        do {
            server = try BrokerServer(config: config, arena: arena, audit: audit)
            try server.bindAdminSocket()
            try server.watchSignals([SIGTERM, SIGINT])
        } catch {
            throw fail("admin socket \(config.adminSocketPath)", error)
        }
        do {
            try server.restoreRegistry()
        } catch {
            Console.error("remo-broker: registry \(config.registryPath) not restored: \(error)")
        }

        // Steps 4–5 (privileges, capabilities, seccomp) plug in here.
        let hardening = KernelStatus.hardening()
        server.markServing()
        let pid = getpid()
        audit.record(.brokerStarted(version: BrokerVersion.version, pid: pid, hardening: hardening))
        SystemdNotify.send("READY=1\nMAINPID=\(pid)")
        Console.error("remo-broker \(BrokerVersion.version): serving; admin socket \(config.adminSocketPath), "
            + "\(server.projectCount) project(s), audit log \(config.auditLogPath)")

        let reason: String
        do {
            reason = try server.run()
        } catch {
            Console.error("remo-broker: serving loop failed: \(error)")
            reason = "error"
        }
        SystemdNotify.send("STOPPING=1")
        audit.record(.brokerStopping(version: BrokerVersion.version, pid: pid, reason: reason))
        audit.close(timeoutSeconds: 2)
        unlink(config.adminSocketPath)
        withExtendedLifetime(server) {}
        Console.error("remo-broker: stopped (\(reason))")
        return reason == "error" ? 1 : 0
    }

    private static func fail(_ step: String, _ error: Error) -> StartupError {
        StartupError(step: step, detail: "\(error)")
    }
}

extension BrokerServer {
    public var projectCount: Int { projects.count }
}
