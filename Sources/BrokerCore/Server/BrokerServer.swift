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
    var signalFD: Int32 = -1
    var projects: [String: LiveProject] = [:]
    /// Everything in the registry file, including projects skipped at start because their
    /// manifest went bad (kept so that nothing registered is forgotten silently).
    var records: [String: ProjectRecord] = [:]
    var connectionCount = 0
    var lastSweep: UInt64 = 0
    /// Live rotation (BrokerServer+Wait.swift): revisions and the parked `wait`s.
    var revisionClock = RevisionClock()
    var waits = WaitSet()

    /// A server whose audit events are held until `attachAudit` (the daemon starts the
    /// writer thread only after dropping privileges; see `AuditSink`).
    public init(config: BrokerConfig, arena: SecretArena) throws(SystemError) {
        self.config = config
        self.store = SecretStore(arena: arena)
        self.audit = AuditSink(path: config.auditLogPath)
        self.epoll = try Epoll()
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

    /// Creates the socket directories and binds the admin socket.
    public func bindAdminSocket() throws(SystemError) {
        try FileSystem.createDirectories(config.socketDir, mode: 0o711)
        guard chmod(config.socketDir, 0o711) == 0 else { throw SystemError("chmod", subject: config.socketDir) }
        try FileSystem.createDirectories(config.projectsDir, mode: 0o711)
        guard chmod(config.projectsDir, 0o711) == 0 else { throw SystemError("chmod", subject: config.projectsDir) }
        adminListenerFD = try UnixSocket.listen(at: config.adminSocketPath, mode: mode_t(config.adminSocketMode))
        if let gid = config.adminGID, chown(config.adminSocketPath, UInt32.max, gid) != 0 {
            throw SystemError("chown", subject: config.adminSocketPath)
        }
        let token = newToken()
        sources[token] = .adminListener
        try epoll.add(adminListenerFD, token: token, interest: .readable)
    }

    /// Takes SIGTERM/SIGINT through a signalfd. The signals must already be blocked in every
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
            try epoll.wait(timeoutMilliseconds: waitTimeout(timeout, now: Monotonic.nanoseconds())) { event in handle(event) }
            let now = Monotonic.nanoseconds()
            if now &- lastSweep >= Monotonic.nanosecondsPerSecond {
                lastSweep = now
                closeIdleConnections(now: now)
            }
            expireWaits(now: now)  // after the sweep: an answered wait's activity is later than `now`
            if case .draining(let deadline, let reason) = state, connections.isEmpty || now >= deadline {
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
        case .signals: handleSignals()
        case .connection(let connection):
            if event.readable || event.hangup { readAvailable(connection) }
            // A peer gone while its wait is parked cannot take the answer.
            if connection.waiting != nil, connection.inputClosed { close(connection) }
            if sources[connection.token] != nil, event.writable { flush(connection) }
        }
    }

    private func handleSignals() {
        var info = signalfd_siginfo()
        while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            let name = info.ssi_signo == UInt32(SIGINT) ? "SIGINT" : "SIGTERM"
            beginDrain(reason: name)
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
        for project in projects.values { project.closeListener() }
        for (token, source) in sources {
            if case .projectListener = source { sources[token] = nil }
        }
        answerAllWaits()
        for connection in connections {
            connection.inputClosed = true
            processLines(connection)
            flush(connection)
            if sources[connection.token] != nil, connection.output.isEmpty { close(connection) }
        }
    }

    // MARK: connections

    private func acceptAll(_ listener: Int32, endpoint: Connection.Endpoint) {
        guard case .serving = state else { return }
        while true {
            let fd: Int32
            do {
                guard let accepted = try UnixSocket.accept(listener) else { return }
                fd = accepted
            } catch {
                // EMFILE/ENFILE: leave the rest queued for the next round rather than spin.
                Console.error("remo-broker: \(error)")
                return
            }
            admit(fd, endpoint: endpoint)
        }
    }

    private func admit(_ fd: Int32, endpoint: Connection.Endpoint) {
        let project = endpoint == .admin ? nil : projects[endpoint.auditName]
        if connectionCount >= config.maxConnections {
            return refuse(fd, "the broker is at max_connections (\(config.maxConnections))")
        }
        if let project, project.connectionCount >= config.maxConnectionsPerProject {
            return refuse(fd, "project \(project.name) is at max_connections_per_project (\(config.maxConnectionsPerProject))")
        }
        guard let peer = try? PeerCredentials.of(socket: fd) else {
            Libc.close(fd)
            return
        }
        let connection = Connection(token: newToken(), fd: fd, endpoint: endpoint, peer: peer, now: Monotonic.nanoseconds())
        do {
            try epoll.add(fd, token: connection.token, interest: .readable)
        } catch {
            Libc.close(fd)
            return
        }
        sources[connection.token] = .connection(connection)
        connectionCount += 1
        if let project {
            project.connectionCount += 1
            if let allowed = project.record.allowedUIDs, !allowed.contains(peer.uid) {
                connection.peerRejected = true
                audit.record(.peerUnexpected(project: project.name, peer: peer))
            }
        }
    }

    /// Over a connection limit: one error line (best effort, the socket is fresh so it fits
    /// in its buffer), then close. Never left waiting in the accept queue.
    private func refuse(_ fd: Int32, _ message: String) {
        var writer = JSONWriter()
        WireError(.tooManyConnections, message).write(to: &writer)
        writer.bytes.append(0x0A)
        _ = writer.bytes.withUnsafeBufferPointer { try? UnixSocket.send(fd, $0) }
        Libc.close(fd)
    }

    func close(_ connection: Connection) {
        guard sources.removeValue(forKey: connection.token) != nil else { return }
        forgetWait(connection)
        Libc.close(connection.fd)
        connection.input.clear()
        connection.output.clear()
        connectionCount -= 1
        if let name = connection.projectName, let project = projects[name] {
            project.connectionCount -= 1
        }
    }

    private func readAvailable(_ connection: Connection) {
        while !connection.inputClosed && !connection.readPaused {
            // Never buffer more than one line past the limit: that is enough to know it is too long.
            let room = connection.lineLimit + 1 - connection.input.readableCount
            if room <= 0 { break }
            let region = connection.input.reserve(min(BrokerServer.readChunk, room))
            let result: UnixSocket.IOResult
            do {
                result = try UnixSocket.receive(connection.fd, into: UnsafeMutableBufferPointer(rebasing: region[0..<min(region.count, room)]))
            } catch {
                return close(connection)
            }
            switch result {
            case .transferred(let count):
                connection.input.commit(count)
                processLines(connection)
            case .wouldBlock:
                return flush(connection)
            case .closed:
                connection.inputClosed = true
            }
        }
        processLines(connection)
        flush(connection)
    }

    /// Handles every complete line in the input, unless output is backed up.
    func processLines(_ connection: Connection) {
        while !connection.closeAfterFlush, sources[connection.token] != nil {
            if connection.waiting != nil { return }  // a parked wait: later requests answer after it
            if connection.output.readableCount >= BrokerServer.outputPauseBytes, !connection.inputClosed {
                connection.readPaused = true
                return
            }
            let pending = connection.input.readable
            guard let newline = pending[connection.scanOffset...].firstIndex(of: 0x0A) else {
                connection.scanOffset = pending.count
                if pending.count > connection.lineLimit {
                    tooLarge(connection)
                } else if connection.inputClosed {
                    // The peer is gone: an unterminated last line is never a request.
                    connection.input.clear()
                    connection.scanOffset = 0
                }
                return
            }
            connection.scanOffset = 0
            if newline > connection.lineLimit {
                return tooLarge(connection)
            }
            var line = UnsafeMutableBufferPointer(rebasing: pending[0..<newline])
            if line.last == 0x0D { line = UnsafeMutableBufferPointer(rebasing: line[0..<(line.count - 1)]) }
            if !line.isEmpty {
                connection.lastActivity = Monotonic.nanoseconds()
                handleLine(line, on: connection)
                if sources[connection.token] == nil { return }
            }
            connection.input.consume(newline + 1)  // zeroes the request bytes
        }
    }

    private func tooLarge(_ connection: Connection) {
        reply(WireError(.payloadTooLarge, "request line is longer than \(connection.lineLimit) bytes"), to: connection)
        connection.input.clear()
        connection.scanOffset = 0
        connection.closeAfterFlush = true
    }

    /// Writes as much output as the socket takes, resumes a paused reader once drained, and
    /// updates epoll interest. Never reads from the socket itself (no recursion with
    /// `readAvailable`): new input is picked up on the next readable event.
    func flush(_ connection: Connection) {
        while sources[connection.token] != nil {
            while !connection.output.isEmpty {
                let result: UnixSocket.IOResult
                do {
                    result = try UnixSocket.send(connection.fd, UnsafeBufferPointer(connection.output.readable))
                } catch {
                    return close(connection)
                }
                switch result {
                case .transferred(let count):
                    connection.output.consume(count)
                    connection.lastActivity = Monotonic.nanoseconds()
                case .wouldBlock:
                    if connection.output.readableCount > BrokerServer.outputHardCapBytes { return close(connection) }
                    return updateInterest(connection)
                case .closed:
                    return close(connection)
                }
            }
            // Output drained.
            if connection.closeAfterFlush || (connection.inputClosed && connection.input.isEmpty) || isDraining {
                return close(connection)
            }
            guard connection.readPaused else { break }
            connection.readPaused = false
            processLines(connection)  // buffered requests; may queue output (and pause) again
        }
        if sources[connection.token] != nil { updateInterest(connection) }
    }

    var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }

    private func updateInterest(_ connection: Connection) {
        var wanted: Epoll.Interest = []
        if !connection.readPaused && !connection.inputClosed && !isDraining && connection.waiting == nil { wanted.insert(.readable) }
        if !connection.output.isEmpty { wanted.insert(.writable) }
        guard wanted != connection.interest else { return }
        connection.interest = wanted
        do {
            try epoll.modify(connection.fd, token: connection.token, interest: wanted)
        } catch {
            close(connection)
        }
    }

    private func closeIdleConnections(now: UInt64) {
        let limit = UInt64(config.idleTimeoutSeconds) * Monotonic.nanosecondsPerSecond
        for connection in connections where connection.waiting == nil && now &- connection.lastActivity > limit {
            close(connection)
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
            audit.record(.requestInvalid(socket: connection.endpoint.auditName, code: error.code.rawValue))
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
