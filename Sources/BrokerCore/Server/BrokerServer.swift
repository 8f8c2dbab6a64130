import CSeccomp

/// The serving loop: one thread, epoll over non-blocking AF_UNIX sockets.
///
/// Every request is handled to completion when its line arrives, so the loop needs no locks
/// and a `get` racing a push sees one whole generation. The syscalls it makes while serving
/// are listed in `Hardening/SyscallAllowlist.swift`.
public final class BrokerServer {
    public enum State: Equatable {
        case starting
        case serving
        /// SIGTERM/SIGINT seen: no new connections or requests; replies still flushing.
        case draining(deadline: UInt64, reason: String)
        case stopped(reason: String)
    }

    enum Source {
        case adminListener
        case projectListener(String)
        case credentialsListener
        case signals
        case connection(Connection)
    }

    /// Output waiting for a slow reader above which its input is no longer read.
    static let outputPauseBytes = 256 * 1024
    /// Output above which a connection is dropped (cannot happen with pausing unless a single
    /// reply is enormous; a safety net, not a policy).
    static let outputHardCapBytes = 16 * 1024 * 1024
    static let readChunk = 64 * 1024

    let config: BrokerConfig
    let store: SecretStore
    let audit: AuditSink
    let epoll: Epoll
    public private(set) var state = State.starting
    let startedAt = Monotonic.nanoseconds()

    var sources: [UInt64: Source] = [:]
    var nextToken: UInt64 = 16
    var adminListenerFD: Int32 = -1
    var credentialsListenerFD: Int32 = -1
    /// What each systemd unit may load (SPEC §12): the config's `[units]`, again on SIGHUP.
    var units: UnitCredentials
    var signalFD: Int32 = -1
    var projects: [String: LiveProject] = [:]
    /// Everything in the registry file, including projects skipped at start because their
    /// manifest went bad (kept so that nothing registered is forgotten silently).
    var records: [String: ProjectRecord] = [:]
    var connectionCount = 0
    var lastSweep: UInt64 = 0
    /// Connections whose share of a wake-up ran out with complete lines still buffered:
    /// served round-robin before the loop sleeps again (epoll cannot see buffered input).
    var backlog: [Connection] = []
    var auditBudget = AuditBudget()
    /// Accept-and-close room for when the descriptor table is full.
    let descriptorReserve: DescriptorReserve
    var descriptorLog = LogThrottle()
    /// Live rotation (BrokerServer+Wait.swift): revisions and the parked `wait`s.
    var revisionClock = RevisionClock()
    var waits = WaitSet()

    /// A server whose audit events are held until `attachAudit` (the daemon starts the
    /// writer thread only after dropping privileges; see `AuditSink`).
    public init(config: BrokerConfig, arena: SecretArena) throws(SystemError) {
        self.config = config
        self.store = SecretStore(arena: arena)
        self.units = config.units
        self.audit = AuditSink(path: config.auditLogPath)
        self.epoll = try Epoll()
        self.descriptorReserve = try DescriptorReserve()
    }

    public convenience init(config: BrokerConfig, arena: SecretArena, audit: AuditLog) throws(SystemError) {
        try self.init(config: config, arena: arena)
        attachAudit(audit)
    }

    /// Sends audit events to `log` from now on, starting with those recorded so far.
    public func attachAudit(_ log: AuditLog) {
        audit.attach(log)
    }

    func newToken() -> UInt64 {
        nextToken += 1
        return nextToken
    }

    // MARK: start-up (SPEC §7 step 3)

    /// Creates `projects/` in the socket dir (which `SocketDirectory.prepare` made and checked),
    /// sets both to 0711 and binds the admin socket.
    public func bindAdminSocket() throws(SystemError) {
        try FileSystem.createDirectories(config.projectsDir, mode: 0o711)
        guard chmod(config.socketDir, 0o711) == 0 else { throw SystemError("chmod", subject: config.socketDir) }
        guard chmod(config.projectsDir, 0o711) == 0 else { throw SystemError("chmod", subject: config.projectsDir) }
        if UnixSocket.isServed(config.adminSocketPath) {
            throw SystemError("another process is serving on this socket", errno: EADDRINUSE, subject: config.adminSocketPath)
        }
        adminListenerFD = try UnixSocket.listen(at: config.adminSocketPath, mode: mode_t(config.adminSocketMode))
        if let gid = config.adminGID, chown(config.adminSocketPath, UInt32.max, gid) != 0 {
            throw SystemError("chown", subject: config.adminSocketPath)
        }
        let token = newToken()
        sources[token] = .adminListener
        try epoll.add(adminListenerFD, token: token, interest: .readable)
    }

    /// SIGTERM/SIGINT stop the broker; SIGHUP reloads `[units]`; SIGUSR1 and SIGUSR2 are
    /// logged and otherwise harmless (their default action would end the process).
    public static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2]

    /// Takes `handledSignals` through a signalfd. The signals must already be blocked in every
    /// thread (the daemon blocks them before any thread starts).
    public func watchSignals(_ signals: [Int32]) throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        signalFD = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        guard signalFD >= 0 else { throw SystemError("signalfd") }
        let token = newToken()
        sources[token] = .signals
        try epoll.add(signalFD, token: token, interest: .readable)
    }

    public func markServing() {
        state = .serving
    }

    var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }

    // MARK: the loop

    /// Serves until a stop signal has been handled and the drain finished.
    public func run() throws(SystemError) -> String {
        while true {
            if case .stopped(let reason) = state { return reason }
            let timeout: Int32
            if case .draining(let deadline, _) = state {
                let now = Monotonic.nanoseconds()
                timeout = now >= deadline ? 0 : Int32(min(1000, (deadline - now) / 1_000_000 + 1))
            } else {
                timeout = 1000
            }
            // Buffered requests waiting their turn: look at new events without sleeping.
            let sleep = backlog.isEmpty ? waitTimeout(timeout, now: Monotonic.nanoseconds()) : 0
            try epoll.wait(timeoutMilliseconds: sleep) { event in handle(event) }
            serveBacklog()
            let now = Monotonic.nanoseconds()
            if now &- lastSweep >= Monotonic.nanosecondsPerSecond {
                lastSweep = now
                closeIdleConnections(now: now)
                closeAuditWindow()
            }
            expireWaits(now: now)  // after the sweep: an answered wait's activity is later than `now`
            if case .draining(let deadline, let reason) = state, connections.isEmpty || now >= deadline {
                backlog.removeAll()
                for connection in connections { close(connection) }
                state = .stopped(reason: reason)
            }
        }
    }

    var connections: [Connection] {
        sources.values.compactMap { if case .connection(let c) = $0 { return c } else { return nil } }
    }

    private func handle(_ event: Epoll.Event) {
        guard let source = sources[event.token] else { return }
        switch source {
        case .adminListener: acceptAll(adminListenerFD, endpoint: .admin)
        case .projectListener(let name):
            if let project = projects[name] { acceptAll(project.listenerFD, endpoint: .project(name)) }
        case .credentialsListener: acceptCredentialRequests()
        case .signals: handleSignals()
        case .connection(let connection):
            // A peer gone while its wait is parked cannot take the answer. Close now: with more
            // than a line limit of pipelined bytes behind the wait, reading stops before EOF,
            // and the level-triggered hang-up would wake the loop until the wait's deadline.
            if connection.waiting != nil, event.hangup { return close(connection) }
            if event.readable || event.hangup { readAvailable(connection) }
            // The same when the read just found its end of input.
            if connection.waiting != nil, connection.inputClosed { close(connection) }
            if sources[connection.token] != nil, event.writable { flush(connection) }
        }
    }

    private func handleSignals() {
        var info = signalfd_siginfo()
        while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            switch Int32(bitPattern: info.ssi_signo) {
            case SIGTERM: beginDrain(reason: "SIGTERM")
            case SIGINT: beginDrain(reason: "SIGINT")
            case SIGHUP: reloadUnits(signalledBy: info.ssi_pid)
            default: Console.error("remo-broker: signal \(info.ssi_signo) from pid \(info.ssi_pid) ignored")
            }
        }
    }

    /// Stops accepting and reading; in-flight replies get `shutdown_drain_seconds` to flush.
    public func beginDrain(reason: String) {
        guard state == .serving || state == .starting else { return }
        let deadline = Monotonic.nanoseconds() + UInt64(config.shutdownDrainSeconds) * Monotonic.nanosecondsPerSecond
        state = .draining(deadline: deadline, reason: reason)
        Console.error("remo-broker: \(reason) received, draining (up to \(config.shutdownDrainSeconds) s)")
        if adminListenerFD >= 0 {
            Libc.close(adminListenerFD)
            adminListenerFD = -1
            unlink(config.adminSocketPath)
        }
        closeCredentialsSocket()
        for project in projects.values { project.closeListener() }
        for (token, source) in sources {
            if case .projectListener = source { sources[token] = nil }
        }
        answerAllWaits()
        for connection in connections {
            connection.inputClosed = true
            var linesLeft = BrokerServer.fairShareLines
            processLines(connection, share: &linesLeft)
            flush(connection)
            if sources[connection.token] != nil, connection.output.isEmpty, !connection.onBacklog { close(connection) }
        }
    }

    // MARK: replies

    func reply(_ error: WireError, to connection: Connection) {
        var writer = JSONWriter()
        error.write(to: &writer)
        writer.bytes.append(0x0A)
        connection.output.append(writer.bytes)
        switch error.code {
        case .protocolError, .payloadTooLarge, .invalidPayload:
            let socket = connection.endpoint.auditName
            recordLimited(.requestInvalid(socket: socket, code: error.code.rawValue), scope: .socket(socket), kind: .requestInvalid)
        default:
            break
        }
    }

    func reply(_ writer: JSONWriter, to connection: Connection) {
        var bytes = writer.bytes
        bytes.append(0x0A)
        connection.output.append(bytes)
    }
}
