import CSeccomp

/// The credentials socket (SPEC §12): systemd's `LoadCredential=ID:<credentials_socket>`
/// connects once per credential at unit start, from the abstract address
/// `\0<random>/unit/<unit>/<ID>`, and reads until EOF. The broker writes the value and
/// closes, or closes without writing. Nothing is ever read from these connections.
extension BrokerServer {
    /// `socket` of the `peer.unexpected` events this socket writes (and of their budget).
    static let credentialsScope = AuditEvent.Scope.socket("credentials")

    /// Binds `credentials_socket` while units are configured and removes it when none are
    /// (also a stale one an earlier run left). Called at start and after every SIGHUP.
    public func syncCredentialsSocket() throws(SystemError) {
        let path = config.credentialsSocketPath
        if units.isEmpty {
            guard credentialsListenerFD >= 0 else {
                try? UnixSocket.removeStaleSocket(path)
                return
            }
            closeCredentialsSocket()
            return
        }
        guard credentialsListenerFD < 0 else { return }
        // 0600 and the broker's own user: root (systemd) connects anyway, nobody else can.
        let fd = try UnixSocket.listen(at: path, mode: 0o600)
        let token = newToken()
        do {
            try epoll.add(fd, token: token, interest: .readable)
        } catch {
            Libc.close(fd)
            unlink(path)
            throw error
        }
        credentialsListenerFD = fd
        sources[token] = .credentialsListener
    }

    func closeCredentialsSocket() {
        guard credentialsListenerFD >= 0 else { return }
        Libc.close(credentialsListenerFD)
        credentialsListenerFD = -1
        unlink(config.credentialsSocketPath)
        for (token, source) in sources {
            if case .credentialsListener = source { sources[token] = nil }
        }
    }

    /// SIGHUP: the `[units]` tables from the config file again. A file that does not load
    /// keeps the tables in force; either way the broker keeps serving.
    func reloadUnits(signalledBy pid: UInt32) {
        guard !isDraining else {
            return Console.error("remo-broker: SIGHUP from pid \(pid) ignored: stopping")
        }
        let fresh: UnitCredentials
        do {
            fresh = try ConfigLoader.reloadUnits(of: config)
        } catch {
            return Console.error("remo-broker: SIGHUP from pid \(pid): config not reloaded, \(units.count) unit(s) "
                + "stay in force: \(error.message)")
        }
        let changed = fresh.changedUnits(since: units)
        units = fresh
        do {
            try syncCredentialsSocket()
        } catch {
            Console.error("remo-broker: SIGHUP: credentials socket \(config.credentialsSocketPath) not created: \(error)")
        }
        Console.error("remo-broker: SIGHUP from pid \(pid): [units] reloaded from \(config.configFile ?? "(no config file)"): "
            + "\(units.count) unit(s), " + (changed.isEmpty ? "none changed" : "changed: " + changed.joined(separator: ", "))
            + "; other settings take effect at the next start")
    }

    // MARK: serving

    func acceptCredentialRequests() {
        guard case .serving = state else { return }
        while credentialsListenerFD >= 0 {
            do {
                guard let (fd, peerPath) = try UnixSocket.acceptWithPeerPath(credentialsListenerFD) else { return }
                serveCredential(fd, peerPath: peerPath)
            } catch {
                guard error.errno == EMFILE || error.errno == ENFILE else {
                    return Console.error("remo-broker: \(error)")
                }
                guard refuseWithReserve(credentialsListenerFD, because: error, endpoint: .credentials) else { return }
            }
        }
    }

    /// One credential: checked, audited, written, closed. Anything refused gets no byte at
    /// all (systemd would store an error line as the credential).
    private func serveCredential(_ fd: Int32, peerPath: [UInt8]) {
        let started = Monotonic.nanoseconds()
        guard let peer = try? PeerCredentials.of(socket: fd) else {
            Libc.close(fd)
            return
        }
        guard peer.uid == 0, let request = UnitCredentialRequest(peerAddress: peerPath) else {
            recordLimited(.peerUnexpected(scope: Self.credentialsScope, peer: peer), scope: Self.credentialsScope, kind: .peerUnexpected)
            Libc.close(fd)
            return
        }
        guard connectionCount < config.maxConnections else {
            Libc.close(fd)
            return
        }
        let connection = Connection(token: newToken(), fd: fd, endpoint: .credentials, peer: peer, now: started)
        connection.inputClosed = true
        connection.closeAfterFlush = true
        connection.interest = []
        do {
            try epoll.add(fd, token: connection.token, interest: [])
        } catch {
            Libc.close(fd)
            return
        }
        sources[connection.token] = .connection(connection)
        connectionCount += 1

        let outcome = credential(request, into: connection.output)
        let micros = Int((Monotonic.nanoseconds() &- started) / 1000)
        audit.record(.fetch(.unit(request.unit), secretName: request.id, outcome: outcome, peer: peer, latencyMicros: micros))
        flush(connection)  // closes once written (or at once when there is nothing to write)
    }

    /// Appends what the unit receives to `output`: a scalar's bytes, one field of a bundle
    /// (`name.field`), or a whole bundle as a compact JSON object (`name`).
    private func credential(_ request: UnitCredentialRequest, into output: SecureBuffer) -> AuditEvent.Outcome {
        // The unit's list is checked before the store is touched.
        guard let (name, field) = request.secretAndField, units.allows(unit: request.unit, secret: name) else { return .denied }
        guard let secret = store.secret(named: name) else { return .notFound }
        return store.appendCredential(for: secret, field: field, to: output) ? .ok : .notFound
    }
}
