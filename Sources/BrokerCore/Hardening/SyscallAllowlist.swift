import CSeccomp

/// One row of the seccomp policy: a syscall the filter lets through (or answers with an
/// errno), under which argument conditions, and why the broker needs it.
public struct SyscallRule: Sendable {
    public enum Action: Equatable, Sendable {
        case allow
        /// The syscall fails with this errno instead of running (and instead of killing).
        case fail(errno: Int32, name: String)
    }

    /// The x86_64 name, as libseccomp and strace spell it.
    public let name: String
    /// Alternatives (the rule matches when any one holds), each a conjunction of argument
    /// conditions. Empty: unconditional.
    public let when: [[ArgumentCondition]]
    public let action: Action
    public let why: String
}

/// `argument[index] == value`, or `(argument[index] & mask) == value`.
public struct ArgumentCondition: Equatable, Sendable {
    public let index: Int
    public let mask: UInt64?
    public let value: UInt64
    /// How the docs show it, e.g. "domain == AF_UNIX".
    public let text: String

    public static func equals(_ index: Int, _ value: UInt64, _ text: String) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: nil, value: value, text: text)
    }

    public static func masked(_ index: Int, _ mask: UInt64, _ value: UInt64, _ text: String) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: mask, value: value, text: text)
    }
}

/// The seccomp allowlist (SPEC §7 step 5): every syscall the daemon makes after the filter
/// is installed — serving loop, handlers, audit writer thread, shutdown — and nothing else.
/// Anything not listed kills the whole process (`--seccomp=log`: logged by the kernel and
/// allowed, for finding a missing entry). x86_64 only: the filter is built for the native
/// architecture and kills any other (including the x32 ABI).
///
/// Found by tracing a debug and a release broker (`strace -f`) through every operation:
/// start, register, unregister, reload, push-creds, get, info, ping, status, clear-creds,
/// peer and limit refusals, audit rotation and outage, SIGTERM drain, sd_notify, stop.
/// Done before the filter and so absent here: reading /etc/passwd, the user switch, bind of
/// the admin socket, creating the socket/state/audit directories, starting the audit thread.
///
/// Deliberately absent (each is a kill): execve/execveat, fork/vfork and clone without
/// CLONE_THREAD, ptrace, process_vm_readv/writev, mount/umount2, bpf, kexec_load/
/// kexec_file_load, perf_event_open, keyctl/add_key/request_key, init_module/finit_module,
/// setuid/setgid/setgroups and every other credential change, capset, prctl other than
/// PR_GET_DUMPABLE, ioctl, connect, socket other than AF_UNIX.
public enum SyscallAllowlist {
    public static let rules: [SyscallRule] = [
        // MARK: serving loop
        allow("epoll_wait", "the serving loop waits for listener, connection and signal events"),
        allow("epoll_ctl", "connections are added to the loop, their read/write interest changed"),
        allow("accept4", "new connections on the admin, project and credentials sockets (non-blocking, close-on-exec); "
              + "on the credentials socket it also returns the peer's abstract address (systemd's unit and credential id), "
              + "so getpeername is not needed"),
        allow("recvfrom", "reading request lines (recv)"),
        allow("sendto", "writing replies (send, MSG_NOSIGNAL); the sd_notify datagram"),
        allow("getsockopt", if: [[.equals(1, UInt64(SOL_SOCKET), "level == SOL_SOCKET"),
                                  .equals(2, UInt64(SO_PEERCRED), "optname == SO_PEERCRED")]],
              "peer pid/uid/gid of every accepted connection (SO_PEERCRED)"),
        allow("read", "signals from the signalfd; manifests, the registry, /proc/self/status; the config file on SIGHUP"),
        allow("write", "stderr log lines; audit log lines and the audit.head temp file (writer thread); the registry temp file"),
        allow("close", "closing connections, listeners and files"),

        // MARK: sockets for register (project sockets) and sd_notify
        allow("socket", if: [
            [.equals(0, UInt64(AF_UNIX), "domain == AF_UNIX"),
             .masked(1, 0xF, UInt64(SOCK_STREAM.rawValue), "type == SOCK_STREAM (flags NONBLOCK, CLOEXEC allowed)")],
            [.equals(0, UInt64(AF_UNIX), "domain == AF_UNIX"),
             .masked(1, 0xF, UInt64(SOCK_DGRAM.rawValue), "type == SOCK_DGRAM (flag CLOEXEC allowed)")],
        ], "register binds a project socket, SIGHUP the credentials socket when units appear (AF_UNIX stream); "
           + "sd_notify sends READY/STOPPING (AF_UNIX datagram)"),
        allow("bind", "register: the new project socket; SIGHUP: the credentials socket"),
        allow("listen", "register: the new project socket; SIGHUP: the credentials socket"),

        // MARK: files: register, unregister, reload, registry, audit log, status
        allow("openat", "manifests (register, reload), registry temp file and directory fsync, audit.head temp file, audit log (re)open, "
              + "/proc/self/status, the config file (SIGHUP)"),
        allow("newfstatat", "stat/lstat: project path checks, stale socket check (kind and owner; never a connect probe), audit rotation check"),
        allow("getdents64", "listing /proc/self/task so status covers every thread"),
        allow("fcntl", "audit log: clearing O_NONBLOCK after open"),
        allow("ftruncate", "audit log: cutting a line torn by a failed write"),
        allow("fsync", "registry: the temp file and its directory before and after the rename"),
        allow("rename", "registry and audit.head (writer thread): atomic replace"),
        allow("mkdir", "register: the project's socket directory"),
        allow("chmod", "register: modes of the project socket and its directory; SIGHUP: the credentials socket (0600)"),
        allow("chown", "register: group of the project socket and its directory (socket_gid, own groups only)"),
        allow("unlink", "unregister: the project socket; shutdown: admin.sock and the credentials socket (also on a SIGHUP "
              + "that leaves no units); registry or audit.head temp file on failure"),
        allow("rmdir", "unregister: the project's socket directory"),
        allow("access", "manifest discovery (which candidate file exists), registry existence, the default config file (SIGHUP)"),

        // MARK: memory
        allow("brk", "malloc"),
        allow("mmap", if: [[.masked(2, UInt64(PROT_EXEC), 0, "prot without PROT_EXEC")]],
              "malloc of large blocks (connection buffers of a big push) and the audit thread's arena; never executable"),
        allow("mprotect", if: [[.masked(2, UInt64(PROT_EXEC), 0, "prot without PROT_EXEC")]],
              "malloc growing a thread arena; never executable"),
        allow("munmap", "free of large blocks; arena teardown at shutdown"),
        allow("madvise", "malloc returning memory (MADV_DONTNEED); thread stack release at exit"),
        allow("munlock", "shutdown: the secret arena is zeroed, unlocked and unmapped"),

        // MARK: threads (the audit writer) and time
        allow("futex", "the audit queue's mutex and condition variable; joining the writer at shutdown"),
        allow("clone", if: [[.masked(0, cloneThreadMask, Linux.CLONE_THREAD, "flags has CLONE_THREAD, no CLONE_NEW*")]],
              "threads only (glibc pthread_create); a new process is a kill"),
        fail("clone3", ENOSYS, "ENOSYS",
             "its flags live in memory the filter cannot inspect: ENOSYS makes glibc fall back to clone, which is checked"),
        allow("set_robust_list", "start of a thread (glibc); the audit writer may still be starting when the filter loads"),
        allow("rseq", "start of a thread (glibc registers restartable sequences); as set_robust_list"),
        allow("rt_sigprocmask", "glibc at thread start and exit (the audit writer may still be starting when the filter loads)"),
        allow("clock_gettime", "timestamps, timeouts, rate limits (vDSO; the syscall is the fallback)"),

        // MARK: identity and status
        allow("getpid", "audit events and sd_notify MAINPID"),
        allow("gettid", "Swift's Mutex (priority-inheritance futex) identifies its owner thread"),
        allow("geteuid", "register: a socket file left at the project's path is replaced only when the broker's uid owns it"),
        allow("getegid", "register: socket_gid must be the broker's own group ..."),
        allow("getgroups", "... or one of its supplementary groups"),
        allow("prctl", if: [[.equals(0, Linux.PR_GET_DUMPABLE, "option == PR_GET_DUMPABLE")]],
              "status reports whether the process is dumpable"),

        // MARK: signals and exit
        allow("restart_syscall", "a timed wait (the audit writer's retry timer) resumed after SIGSTOP/SIGCONT"),
        allow("exit", "the audit writer thread ends at shutdown"),
        allow("exit_group", "the process exits"),
    ]

    /// Every CLONE_NEW* flag plus CLONE_THREAD: the clone rule requires exactly CLONE_THREAD
    /// of these, so a thread can be made but never a process or a namespace.
    static let cloneThreadMask: UInt64 = Linux.CLONE_THREAD | Linux.CLONE_NEWNS | Linux.CLONE_NEWCGROUP | Linux.CLONE_NEWUTS
        | Linux.CLONE_NEWIPC | Linux.CLONE_NEWUSER | Linux.CLONE_NEWPID | Linux.CLONE_NEWNET

    /// Kernel ABI constants that Swift's Glibc module does not import (<linux/sched.h> needs
    /// _GNU_SOURCE, <linux/prctl.h> is not covered). Values from the uapi headers; stable ABI.
    enum Linux {
        static let CLONE_THREAD: UInt64 = 0x0001_0000
        static let CLONE_NEWNS: UInt64 = 0x0002_0000
        static let CLONE_NEWCGROUP: UInt64 = 0x0200_0000
        static let CLONE_NEWUTS: UInt64 = 0x0400_0000
        static let CLONE_NEWIPC: UInt64 = 0x0800_0000
        static let CLONE_NEWUSER: UInt64 = 0x1000_0000
        static let CLONE_NEWPID: UInt64 = 0x2000_0000
        static let CLONE_NEWNET: UInt64 = 0x4000_0000
        static let PR_GET_DUMPABLE: UInt64 = 3
    }

    /// Syscalls the filter lets run (conditionally or not); clone3's errno rule is not counted.
    public static var allowedCount: Int { rules.filter { $0.action == .allow }.count }

    /// Syscalls that must never appear in the table as allowed (checked by the tests).
    public static let forbidden: Set<String> = [
        "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
        "mount", "umount2", "bpf", "kexec_load", "kexec_file_load", "perf_event_open", "keyctl",
        "add_key", "request_key", "init_module", "finit_module", "delete_module", "setuid", "setgid",
        "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capset",
        "ioctl", "connect", "pivot_root", "chroot", "unshare", "setns", "open_by_handle_at",
        "userfaultfd", "io_uring_setup", "memfd_create", "kill", "tgkill", "tkill",
    ]

    private static func allow(_ name: String, _ why: String) -> SyscallRule {
        SyscallRule(name: name, when: [], action: .allow, why: why)
    }

    private static func allow(_ name: String, if when: [[ArgumentCondition]], _ why: String) -> SyscallRule {
        SyscallRule(name: name, when: when, action: .allow, why: why)
    }

    private static func fail(_ name: String, _ errno: Int32, _ errnoName: String, _ why: String) -> SyscallRule {
        SyscallRule(name: name, when: [], action: .fail(errno: errno, name: errnoName), why: why)
    }
}
