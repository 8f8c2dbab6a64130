import BrokerCore
import CSeccomp

/// `exec --watch [--signal SIG] [--on-env-change restart|ignore] [--grace-seconds 10] -- CMD`:
/// delivers as `exec`, then stays as CMD's supervisor (CMD is its child) and follows the
/// project's revision (SPEC §10). Forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 and
/// exits with CMD's status (128+N for a signal).
enum ExecWatch {
    static let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        guard let program = arguments.rest.first else {
            throw CommandFailure(message: "missing the command to run: remo-broker exec --watch [options] -- CMD [ARG...]", exitCode: 64)
        }
        guard arguments.positionals.isEmpty else {
            throw CommandFailure(message: "unexpected argument '\(arguments.positionals[0])' (put the command after --)", exitCode: 64)
        }
        let reloadSignal = try arguments.value("signal").map { (text) throws(CommandFailure) -> Int32 in
            guard let number = SignalNames.parse(text) else {
                throw CommandFailure(message: "--signal takes a signal name (HUP, SIGHUP) or number, not '\(text)'", exitCode: 64)
            }
            return number
        }
        let restartOnEnv: Bool
        switch arguments.value("on-env-change") ?? "restart" {
        case "restart": restartOnEnv = true
        case "ignore": restartOnEnv = false
        default: throw CommandFailure(message: "--on-env-change takes restart or ignore", exitCode: 64)
        }
        guard let grace = Int(arguments.value("grace-seconds") ?? "10"), grace >= 0 else {
            throw CommandFailure(message: "--grace-seconds must be a whole number of seconds", exitCode: 64)
        }
        guard let path = SignalNames.resolve(program) else {
            throw CommandFailure(message: "cannot run \(program): not found", exitCode: 127)
        }
        let socket = SocketPaths.projectSocket(socket: arguments.value("socket"))
        let delivery = Delivery(allowDiskFiles: arguments.has("allow-disk-files"))
        let delivered = try ExecCommand.firstDelivery(socket: socket, retrySeconds: try ExecCommand.retrySeconds(arguments),
                                                      delivery: delivery, filesOnly: false)
        let signals = try SignalInbox(forwarded + [SIGCHLD])
        let supervisor = Supervisor(path: path, arguments: Array(arguments.rest.dropFirst()), signals: signals,
                                    graceSeconds: grace)
        try supervisor.start()
        let follower = RotationFollower(socket: socket, delivery: delivery, filesOnly: false, tool: "exec", delivered: delivered)
        while true {
            let readable = signals.poll(follower.pollFD, timeout: follower.pollTimeout(now: Monotonic.nanoseconds()))
            for (signal, fromTerminal) in signals.takeWithOrigin() {
                // Ctrl-C and friends reach CMD directly (same foreground process group): not twice.
                if fromTerminal, signal != SIGCHLD { continue }
                if let status = supervisor.handle(signal) { return status }
            }
            let changes = follower.step(now: Monotonic.nanoseconds(), readable: readable)
            if !changes.env.isEmpty {
                let names = changes.env.map { $0.secret }.joined(separator: ", ")
                var prepared = restartOnEnv
                if restartOnEnv {
                    do {
                        try delivery.apply(changes.env)
                    } catch {
                        // CMD keeps running with what it has; the next change tries again.
                        follower.log("\(names) changed but the new environment could not be prepared (\(error)); the command keeps the old one")
                        prepared = false
                    }
                }
                if prepared {
                    follower.accept(changes.env)
                    follower.log("\(names) changed; restarting the command with the new environment")
                    if let status = try supervisor.restart() { return status }
                    continue
                }
                if !restartOnEnv {
                    follower.log("\(names) changed; environment not updated (--on-env-change ignore)")
                    follower.accept(changes.env)  // reported once per change, not again on every later one
                }
            }
            if !changes.files.isEmpty {
                let names = changes.files.joined(separator: ", ")
                if let reloadSignal {
                    supervisor.signal(reloadSignal)
                    follower.log("\(names) rewritten; sent signal \(reloadSignal) to the command")
                } else {
                    follower.log("\(names) rewritten")
                }
            }
        }
    }
}

/// `sync [--once] [--retry-seconds 15] [--allow-disk-files] [--socket PATH]`: the file
/// bindings alone, kept current, no command. Exits 0 on SIGTERM/SIGINT.
enum SyncCommand {
    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        let socket = SocketPaths.projectSocket(socket: arguments.value("socket"))
        let delivery = Delivery(allowDiskFiles: arguments.has("allow-disk-files"))
        var delivered = try ExecCommand.firstDelivery(socket: socket, retrySeconds: try ExecCommand.retrySeconds(arguments),
                                                      delivery: delivery, filesOnly: true)
        if arguments.has("once") {
            for index in delivered.indices { delivered[index].zeroize() }
            return 0
        }
        let signals = try SignalInbox([SIGTERM, SIGINT])
        let follower = RotationFollower(socket: socket, delivery: delivery, filesOnly: true, tool: "sync", delivered: delivered)
        follower.log("files delivered; following changes")
        while true {
            let readable = signals.poll(follower.pollFD, timeout: follower.pollTimeout(now: Monotonic.nanoseconds()))
            if !signals.take().isEmpty { return 0 }
            let changes = follower.step(now: Monotonic.nanoseconds(), readable: readable)
            if !changes.files.isEmpty { follower.log("\(changes.files.joined(separator: ", ")) rewritten") }
        }
    }
}

/// Signals taken through a signalfd (blocked for normal delivery), polled with one other fd.
final class SignalInbox {
    let fd: Int32

    init(_ signals: [Int32]) throws(CommandFailure) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        sigprocmask(SIG_BLOCK, &set, nil)
        fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard fd >= 0 else { throw CommandFailure(message: "cannot set up a signalfd: \(SystemError("signalfd").errnoName)", exitCode: 71) }
    }

    /// Waits for a signal, `other` becoming readable, or the timeout; returns whether `other` is readable.
    func poll(_ other: Int32?, timeout: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if let other { fds.append(pollfd(fd: other, events: Int16(POLLIN), revents: 0)) }
        let ready = CSeccomp.poll(&fds, nfds_t(fds.count), timeout)
        return ready > 0 && fds.count > 1 && fds[1].revents != 0
    }

    /// The signals received so far, in order.
    func take() -> [Int32] { takeWithOrigin().map { $0.signal } }

    /// The signals received so far, and whether the kernel sent each (SI_KERNEL: a terminal's
    /// Ctrl-C, Ctrl-\ or hangup, delivered to the whole foreground process group).
    func takeWithOrigin() -> [(signal: Int32, fromTerminal: Bool)] {
        var taken: [(signal: Int32, fromTerminal: Bool)] = []
        var info = signalfd_siginfo()
        while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            taken.append((Int32(info.ssi_signo), info.ssi_code == 0x80))  // SI_KERNEL
        }
        return taken
    }
}

/// CMD as a child: started, signalled, restarted, reaped.
final class Supervisor {
    let path: String
    let arguments: [String]
    let signals: SignalInbox
    let graceSeconds: Int
    private var child: pid_t = 0

    init(path: String, arguments: [String], signals: SignalInbox, graceSeconds: Int) {
        self.path = path
        self.arguments = arguments
        self.signals = signals
        self.graceSeconds = graceSeconds
    }

    func start() throws(CommandFailure) {
        do {
            child = try ChildProcess(path, arguments, stdin: .inherit).pid
        } catch {
            throw CommandFailure(message: "cannot run \(path): \(error.errnoName)", exitCode: error.errno == ENOENT ? 127 : 126)
        }
    }

    func signal(_ number: Int32) { if child > 0 { kill(child, number) } }

    /// A forwarded signal goes to CMD; SIGCHLD reaps it. Returns the exit status once CMD ended.
    func handle(_ signal: Int32) -> Int32? {
        if signal != SIGCHLD {
            self.signal(signal)
            return nil
        }
        return reap(blocking: false)
    }

    private func reap(blocking: Bool) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(child, &status, blocking ? 0 : WNOHANG)
        guard result == child else { return nil }
        child = 0
        let exit = ExitStatus(raw: status)
        if let code = exit.exitCode { return code }
        return 128 + (exit.signal ?? 0)
    }

    /// Stops CMD (SIGTERM, SIGKILL after the grace period) and starts it again. Returns a
    /// status instead when a stop signal arrived meanwhile (it was forwarded; CMD is gone).
    func restart() throws(CommandFailure) -> Int32? {
        signal(SIGTERM)
        let deadline = Monotonic.nanoseconds() + UInt64(graceSeconds) * Monotonic.nanosecondsPerSecond
        var stopRequested = false
        var status: Int32? = nil
        while status == nil {
            let now = Monotonic.nanoseconds()
            if now >= deadline {
                signal(SIGKILL)
                status = reap(blocking: true)
                break
            }
            _ = signals.poll(nil, timeout: Int32(min(100, (deadline - now) / 1_000_000 + 1)))
            for (received, fromTerminal) in signals.takeWithOrigin() {
                if received == SIGCHLD {
                    status = reap(blocking: false)
                } else {
                    if !fromTerminal { signal(received) }
                    if received == SIGTERM || received == SIGINT || received == SIGQUIT { stopRequested = true }
                }
            }
        }
        if stopRequested { return status }
        try start()
        return nil
    }
}

enum SignalNames {
    static let table: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("USR1", SIGUSR1), ("USR2", SIGUSR2),
        ("TERM", SIGTERM), ("ALRM", SIGALRM), ("WINCH", SIGWINCH), ("CONT", SIGCONT), ("KILL", SIGKILL),
    ]

    /// `HUP`, `SIGHUP` or a number.
    static func parse(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0, number < 65 { return number }
        let name = text.hasPrefix("SIG") ? String(text.dropFirst(3)) : text
        return table.first { $0.0 == name }?.1
    }

    /// A program name as execvp would find it on PATH.
    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return program }
        let searchPath = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
