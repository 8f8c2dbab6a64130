import CSeccomp

/// Accepting, reading, answering and closing connections, with the fairness rules of
/// SPEC §13: a peer that is refused takes no slot, and no connection gets more than one
/// bounded share of the loop per wake-up.
extension BrokerServer {
    /// Input one connection may have read for it per wake-up.
    static let fairShareBytes = 64 * 1024
    /// Request lines (empty ones included) one connection may have handled per wake-up.
    static let fairShareLines = 64

    // MARK: accepting

    func acceptAll(_ listener: Int32, endpoint: Connection.Endpoint) {
        guard case .serving = state else { return }
        while true {
            let fd: Int32
            do {
                guard let accepted = try UnixSocket.accept(listener) else { return }
                fd = accepted
            } catch {
                guard error.errno == EMFILE || error.errno == ENFILE else {
                    Console.error("remo-broker: \(error)")
                    return
                }
                guard refuseWithReserve(listener, because: error, endpoint: endpoint) else { return }
                continue
            }
            admit(fd, endpoint: endpoint)
        }
    }

    /// Out of descriptors: the reserve makes room to accept one pending connection, answer
    /// it `too_many_connections` and close it, so the listener stops being readable instead
    /// of waking the loop forever (a credentials connection is closed without a byte).
    /// Returns false when nothing could be accepted.
    func refuseWithReserve(_ listener: Int32, because error: SystemError, endpoint: Connection.Endpoint) -> Bool {
        if let count = descriptorLog.occurrence(now: Monotonic.nanoseconds()) {
            Console.error("remo-broker: out of file descriptors (\(error.errnoName)): refused \(count) connection(s) "
                + "since the last such line; raise RLIMIT_NOFILE or lower max_connections")
        }
        guard descriptorReserve.isHeld else {
            descriptorReserve.restore()
            return false
        }
        descriptorReserve.release()
        defer { descriptorReserve.restore() }
        guard let fd = try? UnixSocket.accept(listener) else { return false }
        if endpoint == .credentials {
            Libc.close(fd)
            return true
        }
        refuse(fd, "the broker is out of file descriptors")
        return true
    }

    /// Peer check first (a refused peer never counts toward a cap), then the caps.
    private func admit(_ fd: Int32, endpoint: Connection.Endpoint) {
        guard let peer = try? PeerCredentials.of(socket: fd) else {
            Libc.close(fd)
            return
        }
        let project = endpoint == .admin ? nil : projects[endpoint.auditName]
        if let project, let allowed = project.record.allowedUIDs, !allowed.contains(peer.uid) {
            recordLimited(.peerUnexpected(scope: .project(project.name), peer: peer), scope: .project(project.name), kind: .peerUnexpected)
            return refuse(fd, WireError(.peerUnexpected, "this uid may not use this project's socket"))
        }
        if connectionCount >= config.maxConnections {
            return refuse(fd, "the broker is at max_connections (\(config.maxConnections))")
        }
        if let project, project.connectionCount >= config.maxConnectionsPerProject {
            return refuse(fd, "project \(project.name) is at max_connections_per_project (\(config.maxConnectionsPerProject))")
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
        project?.connectionCount += 1
    }

    private func refuse(_ fd: Int32, _ message: String) {
        refuse(fd, WireError(.tooManyConnections, message))
    }

    /// One error line (best effort: the socket is fresh, so it fits in its buffer), then
    /// close. Nothing the peer sent is read; it is never left waiting in the accept queue.
    private func refuse(_ fd: Int32, _ error: WireError) {
        var writer = JSONWriter()
        error.write(to: &writer)
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

    // MARK: reading and handling, one share per wake-up

    /// Reads at most `fairShareBytes` and handles at most `fairShareLines` lines for this
    /// connection. Input left in the kernel brings the next (level-triggered) epoll event;
    /// complete lines left in the buffer put the connection on the backlog, which the loop
    /// serves round-robin before it sleeps again.
    func readAvailable(_ connection: Connection) {
        // Already queued: its share this turn comes from `serveBacklog`, not a second one here.
        if connection.onBacklog { return }
        var bytesRead = 0
        var linesLeft = BrokerServer.fairShareLines
        while !connection.inputClosed && !connection.readPaused && bytesRead < BrokerServer.fairShareBytes {
            // Never buffer more than one line past the limit: that is enough to know it is too long.
            let room = min(connection.lineLimit + 1 - connection.input.readableCount, BrokerServer.fairShareBytes - bytesRead)
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
                bytesRead += count
                guard processLines(connection, share: &linesLeft) else { return flush(connection) }
            case .wouldBlock:
                return flush(connection)
            case .closed:
                connection.inputClosed = true
            }
        }
        _ = processLines(connection, share: &linesLeft)
        flush(connection)
    }

    /// One share for every connection on the backlog, in the order they were queued.
    func serveBacklog() {
        let queued = backlog
        backlog.removeAll(keepingCapacity: true)
        for connection in queued {
            connection.onBacklog = false
            guard sources[connection.token] != nil else { continue }
            var linesLeft = BrokerServer.fairShareLines
            _ = processLines(connection, share: &linesLeft)
            flush(connection)
        }
    }

    /// Handles complete lines in the input until `share` is used up, output is backed up,
    /// or no complete line is left. Returns false when the share ran out (the connection is
    /// then on the backlog) or the connection stopped being readable.
    @discardableResult
    func processLines(_ connection: Connection, share: inout Int) -> Bool {
        while !connection.closeAfterFlush, sources[connection.token] != nil {
            if connection.waiting != nil { return false }  // a parked wait: later requests answer after it
            if connection.output.readableCount >= BrokerServer.outputPauseBytes, !connection.inputClosed {
                connection.readPaused = true
                return false
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
                return true
            }
            guard share > 0 else {
                queueOnBacklog(connection)
                return false
            }
            share -= 1
            connection.scanOffset = 0
            if newline > connection.lineLimit {
                tooLarge(connection)
                return true
            }
            var line = UnsafeMutableBufferPointer(rebasing: pending[0..<newline])
            if line.last == 0x0D { line = UnsafeMutableBufferPointer(rebasing: line[0..<(line.count - 1)]) }
            if !line.isEmpty {
                connection.lastActivity = Monotonic.nanoseconds()
                handleLine(line, on: connection)
                if sources[connection.token] == nil { return false }
            }
            connection.input.consume(newline + 1)  // zeroes the request bytes
        }
        return false
    }

    func queueOnBacklog(_ connection: Connection) {
        guard !connection.onBacklog else { return }
        connection.onBacklog = true
        backlog.append(connection)
    }

    private func tooLarge(_ connection: Connection) {
        reply(WireError(.payloadTooLarge, "request line is longer than \(connection.lineLimit) bytes"), to: connection)
        connection.input.clear()
        connection.scanOffset = 0
        connection.closeAfterFlush = true
    }

    // MARK: writing

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
            if connection.closeAfterFlush || (connection.inputClosed && connection.input.isEmpty && !connection.onBacklog)
                || (isDraining && !connection.onBacklog) {
                return close(connection)
            }
            guard connection.readPaused else { break }
            connection.readPaused = false
            // Buffered requests, one share; may queue output (and pause) again.
            var linesLeft = BrokerServer.fairShareLines
            processLines(connection, share: &linesLeft)
        }
        if sources[connection.token] != nil { updateInterest(connection) }
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

    func closeIdleConnections(now: UInt64) {
        let limit = UInt64(config.idleTimeoutSeconds) * Monotonic.nanosecondsPerSecond
        for connection in connections where connection.waiting == nil && now &- connection.lastActivity > limit && !connection.onBacklog {
            close(connection)
        }
    }

    // MARK: audit budget

    /// Records a `peer.unexpected` or `request.invalid` within the socket's budget.
    func recordLimited(_ event: AuditEvent, scope: AuditEvent.Scope, kind: AuditBudget.Kind) {
        closeAuditWindow()
        if auditBudget.admit(AuditBudget.Key(scope: scope, kind: kind)) { audit.record(event) }
    }

    /// Writes the `audit.suppressed` summaries of a second that has ended.
    func closeAuditWindow() {
        for summary in auditBudget.closeWindow(second: WallClockTime.now().seconds) { audit.record(summary) }
    }
}
