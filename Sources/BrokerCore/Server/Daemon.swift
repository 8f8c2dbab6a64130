import CSeccomp

/// `remo-broker serve`: the ordered start of SPEC §7, the serving loop, the orderly stop.
public enum Daemon {
    public struct StartupError: Error, CustomStringConvertible {
        public let step: String
        public let detail: String
        public var description: String { "\(step): \(detail)" }
    }

    /// Runs the broker until SIGTERM/SIGINT. Returns the process exit code.
    /// `afterHardening` runs once every hardening step is done, before serving (the
    /// debug-only forbidden-operation check uses it).
    public static func run(_ config: BrokerConfig, afterHardening: (() -> Void)? = nil) -> Int32 {
        do {
            return try serve(config, afterHardening: afterHardening)
        } catch {
            Console.error("remo-broker: cannot start: \(error)")
            return 1
        }
    }

    private static func serve(_ unresolved: BrokerConfig, afterHardening: (() -> Void)?) throws(StartupError) -> Int32 {
        // Descriptors first: every later step opens some, and max_connections must fit.
        var configured = unresolved
        let descriptorLimit: Int
        do {
            descriptorLimit = try DescriptorLimit.raiseToHard()
        } catch {
            throw StartupError(step: "RLIMIT_NOFILE", detail: error.description)
        }
        do {
            if let warning = try configured.fitConnections(toDescriptorLimit: descriptorLimit) {
                Console.error("remo-broker: WARNING: \(warning)")
            }
        } catch {
            throw StartupError(step: "max_connections", detail: error.message)
        }
        // Step 1 (the rest is the config loader): the user to switch to is resolved now,
        // while /etc/passwd can still be read and before anything is created.
        let account = try switchTarget(configured)
        // The project sockets' default group, a bad one rejected now, naming it.
        let config: BrokerConfig
        do {
            config = try configured.resolvingProjectSocketGroup(account: account)
        } catch {
            throw StartupError(step: "project_socket_group", detail: error.message)
        }

        // Step 2: no core files, not dumpable/ptrace-attachable by the same uid, private files.
        var hardening = Hardening(mode: config.hardening)
        try hardening.limitCoreDumps()
        umask(0o077)
        let arena: SecretArena
        do {
            arena = try SecretArena(capacity: config.secretArenaBytes, requireLock: !config.allowUnlockedMemory)
        } catch {
            throw StartupError(step: "secret arena (mlock)", detail: error.description)
        }
        if let lockError = arena.lockError {
            Console.error("remo-broker: WARNING: secret memory is not locked (\(lockError)); continuing because of --allow-unlocked-memory")
        }

        // Signals are taken through a signalfd: block them before any thread exists so every
        // thread inherits the mask. The mask is set, not added to: a mask inherited from the
        // parent (a supervisor's or test runner's thread) would otherwise keep SIGQUIT,
        // SIGSEGV and the like blocked in the daemon. SIGHUP/SIGUSR1/SIGUSR2 are taken the
        // same way so that their default action (terminate) never runs (SPEC §12).
        var handledSignals = sigset_t()
        sigemptyset(&handledSignals)
        for signal in BrokerServer.handledSignals { sigaddset(&handledSignals, signal) }
        pthread_sigmask(SIG_SETMASK, &handledSignals, nil)
        signal(SIGPIPE, SIG_IGN)

        // Step 3: directories, sockets, registry. The audit log's directory is created now
        // (the new user could not); events recorded meanwhile are held by the server.
        let auditDirectory = FileSystem.parentDirectory(config.auditLogPath)
        let createdAuditDirectory = !FileSystem.isDirectory(auditDirectory)
        do {
            try FileSystem.createDirectories(auditDirectory, mode: 0o700)
            try FileSystem.createDirectories(config.stateDir, mode: 0o700)
        } catch {
            throw fail("directories for the audit log and state", error)
        }
        do {
            try SocketDirectory.prepare(config.socketDir, owners: [geteuid()] + (account.map { [$0.uid] } ?? []))
        } catch {
            throw StartupError(step: "socket dir", detail: error.description)
        }
        let server: BrokerServer
        do {
            server = try BrokerServer(config: config, arena: arena)
            try server.bindAdminSocket()
            try server.watchSignals(BrokerServer.handledSignals)
        } catch {
            throw fail("admin socket \(config.adminSocketPath)", error)
        }
        // A start that fails from here on leaves no admin socket that nobody answers.
        var serving = false
        defer { if !serving { unlink(config.adminSocketPath) } }
        do {
            try server.syncCredentialsSocket()
        } catch {
            throw fail("credentials socket \(config.credentialsSocketPath) (\(config.units.count) unit(s) configured)", error)
        }
        defer { if !serving { server.closeCredentialsSocket() } }
        do {
            try server.restoreRegistry()
        } catch {
            Console.error("remo-broker: registry \(config.registryPath) not restored: \(error)")
        }

        // Step 4: privileges. What the broker created as root goes to the new user first,
        // so that register, unregister, registry saves and audit rotation keep working.
        if let account {
            server.handOver(to: account, auditDirectory: createdAuditDirectory ? auditDirectory : nil)
        }
        try hardening.dropPrivileges(switchingTo: account)

        // The audit writer thread starts now, inheriting the reduced credentials.
        let audit: AuditLog
        do {
            audit = try AuditLog(path: config.auditLogPath, headPath: config.auditHeadPath)
        } catch {
            throw fail("audit log \(config.auditLogPath)", error)
        }
        server.attachAudit(audit)

        // Step 5: the seccomp filter, for every thread; then read back what is in force.
        try hardening.installSeccomp(config.seccomp)
        try hardening.verify(expectLockedMemory: !config.allowUnlockedMemory)
        for note in hardening.notes { Console.error("remo-broker: hardening: \(note)") }
        afterHardening?()

        let status = KernelStatus.hardening()
        server.markServing()
        serving = true
        let pid = getpid()
        audit.record(.brokerStarted(version: BrokerVersion.version, pid: pid, hardening: status))
        SystemdNotify.send("READY=1\nMAINPID=\(pid)")
        Console.error("remo-broker \(BrokerVersion.version): serving; admin socket \(config.adminSocketPath), "
            + "\(server.projectCount) project(s), audit log \(config.auditLogPath)"
            + (config.units.isEmpty ? "" : "; credentials socket \(config.credentialsSocketPath) for \(config.units.count) unit(s)"))

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
        server.closeCredentialsSocket()
        withExtendedLifetime(server) {}
        Console.error("remo-broker: stopped (\(reason))")
        return reason == "error" ? 1 : 0
    }

    private static func fail<E: Error & CustomStringConvertible>(_ step: String, _ error: E) -> StartupError {
        StartupError(step: step, detail: "\(error)")
    }

    /// The account to switch to: only when `user` is set and the broker runs as root.
    private static func switchTarget(_ config: BrokerConfig) throws(StartupError) -> UserAccount? {
        guard let spec = config.user else { return nil }
        guard geteuid() == 0 else {
            Console.error("remo-broker: note: user \(spec) ignored: not running as root (uid \(geteuid()))")
            return nil
        }
        do {
            return try UserAccount.resolve(spec)
        } catch {
            throw StartupError(step: "user \(spec)", detail: error.message)
        }
    }
}

extension BrokerServer {
    public var projectCount: Int { projects.count }
}
