/// Live rotation on the data plane (SPEC §10): project revisions, and `wait` requests held on
/// their connections until the revision moves, the timeout passes or the broker stops.
extension BrokerServer {
    /// The project's current revision (one is assigned when first asked for).
    func revision(of project: LiveProject) -> String {
        if project.revision.isEmpty { project.revision = revisionClock.next() }
        return project.revision
    }

    /// What the project may see changed: a new revision, and every parked wait answered.
    func revisionChanged(_ project: LiveProject) {
        project.revision = revisionClock.next()
        for connection in waits.takeAll(of: project.name) {
            answerWait(connection, project: project, changed: true)
        }
    }

    /// After `push-creds`/`clear-creds`: moves the revision of each project that may see one
    /// of the names the store reports as changed, and only those.
    func revisionsAfterStoreChange() {
        let changed = store.lastChanged
        guard !changed.isEmpty else { return }
        for project in projects.values where changed.contains(where: { project.manifest.allows($0) }) {
            revisionChanged(project)
        }
    }

    func startWait(revision: String, timeoutSeconds: Int, project: LiveProject, connection: Connection) {
        let current = self.revision(of: project)
        if revision != current || isDraining {
            return writeWaitReply(to: connection, revision: current, changed: revision != current)
        }
        let wait = PendingWait(project: project.name,
                               deadline: Monotonic.nanoseconds() + UInt64(timeoutSeconds) * Monotonic.nanosecondsPerSecond)
        connection.waiting = wait
        waits.insert(connection, wait)
    }

    private func writeWaitReply(to connection: Connection, revision: String, changed: Bool) {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("ok", true)
        writer.field("revision", revision)
        writer.field("changed", changed)
        writer.endObject()
        reply(writer, to: connection)
    }

    /// Answers a parked wait; whatever was pipelined behind it is served from the backlog on
    /// the loop's next turn (in its fair share, never inside the request that caused this).
    private func answerWait(_ connection: Connection, project: LiveProject?, changed: Bool) {
        guard sources[connection.token] != nil, let wait = connection.waiting else { return }
        connection.waiting = nil
        waits.remove(connection, project: wait.project)
        let current = project.map { revision(of: $0) } ?? ""
        writeWaitReply(to: connection, revision: current, changed: changed)
        connection.lastActivity = Monotonic.nanoseconds()
        queueOnBacklog(connection)
        flush(connection)
    }

    /// Called when a connection closes.
    func forgetWait(_ connection: Connection) {
        guard let wait = connection.waiting else { return }
        connection.waiting = nil
        waits.remove(connection, project: wait.project)
    }

    /// The loop's epoll timeout, shortened to the earliest wait deadline.
    func waitTimeout(_ timeout: Int32, now: UInt64) -> Int32 {
        guard let deadline = waits.earliestDeadline() else { return timeout }
        if deadline <= now { return 0 }
        return Int32(min(UInt64(timeout), (deadline - now + 999_999) / 1_000_000))
    }

    /// Answers the waits whose timeout passed with `changed:false`.
    func expireWaits(now: UInt64) {
        guard let deadline = waits.earliestDeadline(), deadline <= now else { return }
        for connection in waits.expired(now: now) {
            answerWait(connection, project: connection.waiting.flatMap { projects[$0.project] }, changed: false)
        }
    }

    /// SIGTERM/SIGINT: every parked wait gets `changed:false` before the drain ends.
    func answerAllWaits() {
        for connection in waits.all {
            answerWait(connection, project: connection.waiting.flatMap { projects[$0.project] }, changed: false)
        }
    }
}
