import CSeccomp

/// The hardening steps of SPEC §7, each named, run in the daemon's order:
///
/// - step 2, before any socket: `limitCoreDumps` (RLIMIT_CORE=0, PR_SET_DUMPABLE=0);
///   umask and the locked secret arena are the daemon's own;
/// - step 4, after the sockets are bound and the registry restored: `dropPrivileges`
///   (capability bounding set, then the optional user switch, then ambient/effective/
///   permitted/inheritable sets, then PR_SET_NO_NEW_PRIVS);
/// - step 5: `installSeccomp`, then `verify` reads it all back from the kernel.
///
/// `--hardening=strict` (the default) makes any failed step fatal: the error names the
/// step and the errno. `best-effort` prints a warning and goes on; `status` then shows what
/// really is in force, because it is read from /proc, never from what these steps meant to do.
public struct Hardening {
    public let mode: BrokerConfig.HardeningMode
    /// Human-readable outcome lines, printed once the steps are done.
    public private(set) var notes: [String] = []
    /// Set when the bounding set could not be cleared for lack of privilege while the
    /// process held no capability at all (non-root); `verify` accepts that state.
    public private(set) var boundingSetExempt = false

    public init(mode: BrokerConfig.HardeningMode) {
        self.mode = mode
    }

    public typealias Failure = Daemon.StartupError

    /// Runs one step: strict turns a failure into a fatal `StartupError`; best-effort warns.
    /// Returns whether the step succeeded.
    @discardableResult
    mutating func step(_ name: String, _ body: () throws(SystemError) -> Void) throws(Failure) -> Bool {
        do {
            try body()
            return true
        } catch {
            try failed(name, error.description)
            return false
        }
    }

    mutating func failed(_ name: String, _ detail: String) throws(Failure) {
        switch mode {
        case .strict:
            throw Failure(step: "hardening step \"\(name)\" failed", detail: detail + " (--hardening=strict)")
        case .bestEffort:
            Console.error("remo-broker: WARNING: hardening step \"\(name)\" failed: \(detail); continuing (--hardening=best-effort)")
        }
    }

    // MARK: step 2

    /// RLIMIT_CORE 0 (no core file) and not dumpable (no core, no ptrace attach or
    /// /proc/<pid>/mem by the same uid without CAP_SYS_PTRACE).
    public mutating func limitCoreDumps() throws(Failure) {
        try step("RLIMIT_CORE=0") { () throws(SystemError) in
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            guard setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none) == 0 else { throw SystemError("setrlimit(RLIMIT_CORE)") }
        }
        try step("PR_SET_DUMPABLE=0") { () throws(SystemError) in
            guard remo_set_dumpable(0) == 0 else { throw SystemError("prctl(PR_SET_DUMPABLE)") }
        }
    }

    // MARK: step 4

    /// Drops everything the process could use to gain or exercise privilege.
    ///
    /// The bounding set goes first: dropping from it needs CAP_SETPCAP, which the switch
    /// to a non-root user takes away. A non-root process has no CAP_SETPCAP and so cannot
    /// clear its bounding set (EPERM); when it holds no capability at all that is accepted
    /// (`boundingSetExempt`): with no permitted capability, NO_NEW_PRIVS and execve
    /// forbidden by the filter, it has no way to ever gain one. `status` still reports
    /// `capabilities_dropped: false` then, because the kernel says the bounding set is full.
    ///
    /// Capabilities, NO_NEW_PRIVS and the uid are per thread; the daemon calls this while it
    /// is single-threaded, so every later thread (the audit writer) inherits the result.
    public mutating func dropPrivileges(switchingTo account: UserAccount?) throws(Failure) {
        var failedCapability: Int32 = -1
        let bounding = KernelStatus.ThreadState(KernelStatus.procStatus(pid: "thread-self"))
        if remo_cap_drop_bounding_set(&failedCapability) != 0 {
            let error = SystemError("prctl(PR_CAPBSET_DROP)", subject: "capability \(failedCapability)")
            if error.errno == EPERM, account == nil, bounding.permitted == 0, bounding.effective == 0 {
                boundingSetExempt = true
                notes.append("bounding set left as is (no CAP_SETPCAP; the process holds no capability and NO_NEW_PRIVS keeps it so)")
            } else {
                try failed("clear capability bounding set", error.description)
            }
        }

        if let account {
            try switchUser(to: account)
        }

        try step("clear ambient capabilities") { () throws(SystemError) in
            guard remo_cap_clear_ambient() == 0 else { throw SystemError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)") }
        }
        try step("clear effective, permitted and inheritable capabilities") { () throws(SystemError) in
            guard remo_cap_clear_process_sets() == 0 else { throw SystemError("capset") }
        }
        try step("PR_SET_NO_NEW_PRIVS") { () throws(SystemError) in
            guard remo_set_no_new_privs() == 0 else { throw SystemError("prctl(PR_SET_NO_NEW_PRIVS)") }
        }
    }

    /// setgroups, setgid, setuid (as root these set real, effective and saved ids), then
    /// proof that there is no way back: setuid(0) must fail.
    mutating func switchUser(to account: UserAccount) throws(Failure) {
        // Best-effort goes on after a failed step; the uid is the one that matters most.
        try step("setgroups") { () throws(SystemError) in
            guard account.groups.withUnsafeBufferPointer({ remo_set_groups($0.count, $0.baseAddress) }) == 0 else {
                throw SystemError("setgroups", subject: account.groups.map(String.init).joined(separator: ","))
            }
        }
        try step("setgid") { () throws(SystemError) in
            guard setgid(account.gid) == 0 else { throw SystemError("setgid", subject: String(account.gid)) }
        }
        let switched = try step("setuid") { () throws(SystemError) in
            guard setuid(account.uid) == 0 else { throw SystemError("setuid", subject: String(account.uid)) }
        }
        guard switched else { return }
        try step("verify the user switch") { () throws(SystemError) in
            guard getuid() == account.uid, geteuid() == account.uid, getgid() == account.gid, getegid() == account.gid else {
                throw SystemError("getuid/getgid", errno: EPERM,
                                  subject: "ids are \(getuid())/\(geteuid()):\(getgid())/\(getegid()), expected \(account.uid):\(account.gid)")
            }
            if setuid(0) == 0 {
                throw SystemError("setuid(0) succeeded after the switch", errno: EPERM, subject: "privileges can be regained")
            }
            if account.gid != 0, setgid(0) == 0 {
                throw SystemError("setgid(0) succeeded after the switch", errno: EPERM, subject: "privileges can be regained")
            }
        }
        notes.append("running as \(account.label) (uid \(account.uid), gid \(account.gid), groups \(account.groups.map(String.init).joined(separator: ",")))")
    }

    // MARK: step 5

    /// Signals the Swift runtime's crash handler catches (debug builds install it; the
    /// static release binary does not).
    static let crashSignals = [SIGQUIT, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP]

    /// Loads the syscall allowlist into every thread.
    ///
    /// First the crash signals get their default action back: the runtime's crash handler
    /// would try to start its backtracer (execve, ptrace-like reads), which the filter
    /// forbids, so a crash would be reported as SIGSYS instead of the real signal. With the
    /// default action a crash ends the process with its own signal, and RLIMIT_CORE=0 plus
    /// PR_SET_DUMPABLE=0 mean no core file. Fatal-error messages are still printed (the
    /// runtime writes them before it traps).
    public mutating func installSeccomp(_ action: BrokerConfig.SeccompAction) throws(Failure) {
        for signal in Self.crashSignals { _ = Libc.signal(signal, SIG_DFL) }
        let installed = try step("seccomp filter") { () throws(SystemError) in
            try SeccompFilter.install(otherwise: action)
        }
        if installed {
            notes.append("seccomp filter: \(SyscallAllowlist.allowedCount) syscalls allowed, anything else "
                + (action == .kill ? "kills the process" : "is logged (--seccomp=log)"))
        }
    }

    /// Reads back what the kernel has in force for every thread and, in strict mode,
    /// refuses to serve when it is less than the steps above should have achieved.
    public mutating func verify(expectLockedMemory: Bool) throws(Failure) {
        let threads = KernelStatus.threads()
        let status = KernelStatus.hardening()
        var missing: [String] = []
        if !threads.allSatisfy({ $0.seccompMode == 2 }) { missing.append("Seccomp is not 2 in every thread") }
        if !status.noNewPrivs { missing.append("NoNewPrivs is not 1 in every thread") }
        if !threads.allSatisfy({ $0.holdsNoCapabilities }) { missing.append("CapEff/CapPrm/CapInh/CapAmb are not all zero in every thread") }
        if !boundingSetExempt, !threads.allSatisfy({ $0.bounding == 0 }) { missing.append("CapBnd is not zero in every thread") }
        if status.dumpable { missing.append("the process is dumpable") }
        if expectLockedMemory, !status.memoryLocked { missing.append("VmLck is 0") }
        guard !missing.isEmpty else { return }
        try failed("verify from /proc/self/task/*/status", missing.joined(separator: "; "))
    }
}
