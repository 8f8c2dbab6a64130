#if DEBUG || REMO_DEBUG_ATTEMPT
import CSeccomp

/// Debug builds only (`serve --debug-attempt OP`, absent from release builds): once every
/// hardening step is done, the daemon attempts one operation so the tests can watch the
/// filter act on a real, hardened process. Operations the filter forbids must end the
/// process with SIGSYS; the others are expected to work, and print what happened.
public enum ForbiddenOperation: String, CaseIterable, Sendable {
    // Forbidden: the process must die (SIGSYS) under --seccomp=kill.
    case socketInet = "socket-inet"
    case execve
    case fork
    case ptrace
    case mount
    case setuid
    // Allowed: the process must live.
    /// clone3 answers ENOSYS rather than killing (glibc falls back to clone).
    case clone3
    /// pthread_create: clone3 → ENOSYS, then clone(CLONE_THREAD), which the filter allows.
    case thread

    public static let forbidden: [ForbiddenOperation] = [.socketInet, .execve, .fork, .ptrace, .mount, .setuid]

    /// Attempts the operation and prints one line naming the outcome (only reached when the
    /// filter did not kill the process).
    public func attempt() {
        let outcome: String
        switch self {
        case .socketInet:
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            outcome = fd >= 0 ? "succeeded" : "failed: \(SystemError("socket").errnoName)"
        case .execve:
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
            let result = Libc.execve("/bin/true", argv, environ)
            outcome = result == 0 ? "succeeded" : "failed: \(SystemError("execve").errnoName)"
        case .fork:
            let pid = Libc.fork()
            if pid == 0 { _exit(0) }
            outcome = pid > 0 ? "succeeded (pid \(pid))" : "failed: \(SystemError("fork").errnoName)"
        case .ptrace:
            let result = remo_raw_syscall(Int(remo_seccomp_syscall_number("ptrace")), 0 /* PTRACE_TRACEME */, 0, 0, 0, 0, 0)
            outcome = result == 0 ? "succeeded" : "failed: \(SystemError("ptrace").errnoName)"
        case .mount:
            let result = Libc.mount("none", "/nonexistent-remo-broker-probe", "tmpfs", 0, nil)
            outcome = result == 0 ? "succeeded" : "failed: \(SystemError("mount").errnoName)"
        case .setuid:
            // The raw syscall: glibc's setuid() first signals every other thread (tgkill).
            let result = remo_raw_syscall(Int(remo_seccomp_syscall_number("setuid")), 0, 0, 0, 0, 0, 0)
            outcome = result == 0 ? "succeeded" : "failed: \(SystemError("setuid").errnoName)"
        case .clone3:
            let result = remo_raw_syscall(Int(remo_seccomp_syscall_number("clone3")), 0, 0, 0, 0, 0, 0)
            outcome = result >= 0 ? "returned \(result)" : "failed: errno \(errno) (\(SystemError("clone3").errnoName))"
        case .thread:
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, forbiddenOperationThreadMain, nil)
            if created == 0 {
                pthread_join(thread, nil)
                outcome = "created and joined"
            } else {
                outcome = "failed: \(SystemError("pthread_create", errno: created).errnoName)"
            }
        }
        Console.error("remo-broker: debug-attempt \(rawValue): \(outcome)")
    }
}

/// A global function, not a closure: see DESIGN.md §3 on @MainActor closures and pthreads.
private func forbiddenOperationThreadMain(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? { nil }
#endif
