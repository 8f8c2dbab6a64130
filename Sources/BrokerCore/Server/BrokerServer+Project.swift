/// Data plane: ping, info, get on a project socket (SPEC §3.1).
extension BrokerServer {
    func handleLine(_ line: UnsafeMutableBufferPointer<UInt8>, on connection: Connection) {
        switch connection.endpoint {
        case .admin: handleAdminLine(line, on: connection)
        case .project(let name): handleProjectLine(line, on: connection, project: name)
        case .credentials: break  // never read (input is closed from the start)
        }
    }

    private func handleProjectLine(_ line: UnsafeMutableBufferPointer<UInt8>, on connection: Connection, project name: String) {
        let started = Monotonic.nanoseconds()
        guard let project = projects[name] else {
            return reply(WireError(.internalError, "project is no longer registered"), to: connection)
        }
        let request: ProjectRequest
        switch RequestDecoder.parseObject(line) {
        case .failure(let error): return reply(error, to: connection)
        case .success(let (members, op)):
            switch RequestDecoder.project(members, op: op, buffer: JSONBuffer(UnsafeBufferPointer(line))) {
            case .failure(let error): return reply(error, to: connection)
            case .success(let decoded): request = decoded
            }
        }
        switch request {
        case .ping:
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("ok", true)
            writer.field("broker_version", BrokerVersion.version)
            writer.field("protocol_version", BrokerVersion.protocolVersion)
            writer.field("project", project.name)
            writer.endObject()
            reply(writer, to: connection)
        case .info:
            var writer = JSONWriter(reservingCapacity: 1024)
            writer.beginObject()
            writer.field("ok", true)
            writer.field("project", project.name)
            writer.field("schema_version", 1)
            writer.key("allowlist")
            writer.beginArray()
            project.manifest.allowlist.forEach { writer.string($0) }
            writer.endArray()
            writer.key("secrets")
            writer.beginArray()
            project.manifest.bindings.forEach { $0.write(to: &writer) }
            writer.endArray()
            writer.field("revision", revision(of: project))
            writer.endObject()
            reply(writer, to: connection)
        case .wait(let revision, let timeoutSeconds):
            startWait(revision: revision, timeoutSeconds: timeoutSeconds, project: project, connection: connection)
        case .get(let span):
            get(JSONBuffer(UnsafeBufferPointer(line)).slice(span), project: project, connection: connection, started: started)
        }
    }

    private func get(_ nameBytes: UnsafeBufferPointer<UInt8>, project: LiveProject, connection: Connection, started: UInt64) {
        // Only a well-formed name becomes a String; anything else cannot be on an allowlist.
        let name = Names.isSecretName(nameBytes) ? String(decoding: nameBytes, as: UTF8.self) : ""
        func record(_ outcome: AuditEvent.Outcome) {
            let micros = Int((Monotonic.nanoseconds() &- started) / 1000)
            audit.record(.fetch(.project(project.name), secretName: name.isEmpty ? "<invalid>" : name,
                                outcome: outcome, peer: connection.peer, latencyMicros: micros))
        }
        let now = Monotonic.nanoseconds()
        if let retryAfter = project.bucket.take(now: now) {
            reply(WireError(.rateLimited, "too many requests for this project; retry later", retryAfterSeconds: retryAfter), to: connection)
            return record(.rateLimited)
        }
        // The allowlist is checked before the store is touched; the reply is the same bytes
        // whether or not the secret exists, and does not repeat the name.
        guard !name.isEmpty, project.manifest.allows(name) else {
            reply(WireError(.denied, "this project's manifest does not allow that secret"), to: connection)
            return record(.denied)
        }
        guard let secret = store.secret(named: name) else {
            reply(WireError(.notFound, "that secret is allowed but has not been pushed"), to: connection)
            return record(.notFound)
        }
        let ttl = project.cache.resolve(name, generation: store.generationNumber, now: now)
        store.appendReply(for: secret, ttlSeconds: ttl, to: connection.output)
        record(.ok)
    }
}
