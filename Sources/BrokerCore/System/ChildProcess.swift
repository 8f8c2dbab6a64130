import CSeccomp

/// A child process started with posix_spawn. Used by client tools (`watch --command`), the
/// harnesses and tests; never by the daemon, whose seccomp filter forbids new processes.
public struct ChildProcess {
    public let pid: pid_t

    public enum Output {
        case inherit
        case null
        case pipe
        case file(String)
    }

    /// Read ends of the pipes requested with `.pipe` (caller closes them).
    public let stdoutPipe: Int32?
    public let stderrPipe: Int32?

    /// Starts `path` with `arguments` (argv[0] is added). `environment` nil = inherit.
    /// stdin is /dev/null unless `stdin` is `.inherit`.
    public init(_ path: String, _ arguments: [String], environment: [String]? = nil, stdin: Output = .null,
                stdout: Output = .inherit, stderr: Output = .inherit) throws(SystemError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if case .inherit = stdin {} else { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }

        var pipes: [Int32: (read: Int32, write: Int32)] = [:]
        for (fd, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch output {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            case .pipe:
                var ends: [Int32] = [0, 0]
                guard pipe(&ends) == 0 else { throw SystemError("pipe") }
                // Only the dup2'd copies may reach the child (dup2 clears FD_CLOEXEC on them).
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                pipes[fd] = (ends[0], ends[1])
                posix_spawn_file_actions_adddup2(&actions, ends[1], fd)
            }
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        // The child starts with no blocked signal and default dispositions, whatever the
        // spawning thread had: `watch` blocks SIGTERM/SIGINT for its signalfd, and thread-pool
        // threads (test runners) block most signals; a child inheriting that could not be
        // stopped with SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = envp.map { env in posix_spawn(&pid, path, &actions, &attributes, argv, env) }
            ?? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        for (_, ends) in pipes { close(ends.write) }
        guard result == 0 else {
            for (_, ends) in pipes { close(ends.read) }
            throw SystemError("posix_spawn", errno: result, subject: path)
        }
        self.pid = pid
        self.stdoutPipe = pipes[1]?.read
        self.stderrPipe = pipes[2]?.read
    }

    /// Waits for the child; returns its exit status as `ExitStatus`.
    public func wait() throws(SystemError) -> ExitStatus {
        var status: Int32 = 0
        _ = try retryingEINTR("waitpid") { waitpid(pid, &status, 0) }
        return ExitStatus(raw: status)
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Runs to completion, capturing stdout (and stderr unless `captureStderr` is false, when
    /// it goes to this process's stderr).
    public static func run(_ path: String, _ arguments: [String], environment: [String]? = nil, captureStderr: Bool = true)
        throws(SystemError) -> (status: ExitStatus, stdout: [UInt8], stderr: [UInt8])
    {
        let child = try ChildProcess(path, arguments, environment: environment, stdout: .pipe,
                                     stderr: captureStderr ? .pipe : .inherit)
        var out: [UInt8] = [], err: [UInt8] = []
        var open: [(Int32, Bool)] = [(child.stdoutPipe!, true)]
        if let stderrPipe = child.stderrPipe { open.append((stderrPipe, false)) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), -1)
            var still: [(Int32, Bool)] = []
            for (index, entry) in open.enumerated() {
                if fds[index].revents == 0 { still.append(entry); continue }
                let count = chunk.withUnsafeMutableBytes { read(entry.0, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.1 { out += chunk[0..<count] } else { err += chunk[0..<count] }
                    still.append(entry)
                } else if count < 0 && errno == EINTR {
                    still.append(entry)
                } else {
                    close(entry.0)
                }
            }
            open = still
        }
        return (try child.wait(), out, err)
    }
}

/// How a child ended.
public struct ExitStatus: Equatable, Sendable, CustomStringConvertible {
    public let raw: Int32
    public init(raw: Int32) { self.raw = raw }
    public var exitCode: Int32? { raw & 0x7F == 0 ? (raw >> 8) & 0xFF : nil }
    public var signal: Int32? { let s = raw & 0x7F; return s != 0 && s != 0x7F ? s : nil }
    public var description: String {
        if let code = exitCode { return "exit \(code)" }
        if let signal { return "killed by signal \(signal)" }
        return "status \(raw)"
    }
}
