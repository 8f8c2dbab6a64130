import CSeccomp

/// Control plane: the admin socket's ops (SPEC §3.2).
extension BrokerServer {
    func handleAdminLine(_ line: UnsafeMutableBufferPointer<UInt8>, on connection: Connection) {
        let buffer = JSONBuffer(UnsafeBufferPointer(line))
        let request: AdminRequest
        switch RequestDecoder.parseObject(line) {
        case .failure(let error): return reply(error, to: connection)
        case .success(let (members, op)):
            switch RequestDecoder.admin(members, op: op, buffer: buffer) {
            case .failure(let error): return reply(error, to: connection)
            case .success(let decoded): request = decoded
            }
        }
        var writer = JSONWriter()
        do throws(WireError) {
            switch request {
            case .status: writeStatus(to: &writer)
            case .register(let registration): try register(registration, reply: &writer)
            case .unregister(let name): try unregister(name, reply: &writer)
            case .reload(let name, let dryRun): try reload(name, dryRun: dryRun, reply: &writer)
            case .pushCreds(let secrets): try push(secrets, buffer: buffer, peer: connection.peer, reply: &writer)
            case .clearCreds:
                let previous = store.clear()
                flushCaches()
                revisionsAfterStoreChange()
                audit.record(.secretsCleared(previousCount: previous, peerUID: connection.peer.uid))
                okReply(&writer)
            }
        } catch {
            return reply(error, to: connection)
        }
        reply(writer, to: connection)
    }

    private func okReply(_ writer: inout JSONWriter, _ fields: (inout JSONWriter) -> Void = { _ in }) {
        writer.beginObject()
        writer.field("ok", true)
        fields(&writer)
        writer.endObject()
    }

    private func flushCaches() {
        for project in projects.values { project.cache.flush() }
    }

    private func push(_ secrets: [JSONMember], buffer: JSONBuffer, peer: PeerCredentials, reply writer: inout JSONWriter) throws(WireError) {
        let now = WallClockTime.now()
        let count = try store.replace(with: secrets, in: buffer, now: now)
        // Caches are flushed before the reply is queued: no later get can see the old set.
        flushCaches()
        revisionsAfterStoreChange()
        audit.record(.secretsPushed(secretCount: count, peerUID: peer.uid))
        okReply(&writer) { writer in
            writer.field("loaded_at", now.rfc3339Seconds)
            writer.field("secret_count", count)
        }
    }

    func writeStatus(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("ok", true)
        writer.field("broker_version", BrokerVersion.version)
        writer.field("protocol_version", BrokerVersion.protocolVersion)
        writer.field("uptime_seconds", Int((Monotonic.nanoseconds() - startedAt) / Monotonic.nanosecondsPerSecond))
        writer.field("secret_count", store.count)
        writer.key("secrets_loaded_at")
        if let loadedAt = store.loadedAt { writer.string(loadedAt.rfc3339Seconds) } else { writer.null() }
        writer.key("projects")
        writer.beginArray()
        for project in projects.values.sorted(by: { $0.name < $1.name }) {
            checkManifestFile(of: project)
            writer.beginObject()
            writer.field("name", project.name)
            writer.field("socket_path", project.socketPath)
            writer.field("allowlist_size", project.manifest.bindings.count)
            writer.field("cache_entries", project.cache.count)
            writer.field("manifest_changed", project.manifestFile != .matchesPin)
            writer.endObject()
        }
        writer.endArray()
        writer.key("credentials_socket")
        if credentialsListenerFD >= 0 { writer.string(config.credentialsSocketPath) } else { writer.null() }
        writer.key("units")
        writer.beginArray()
        for unit in units.unitNames {
            writer.beginObject()
            writer.field("name", unit)
            writer.key("secrets")
            writer.beginArray()
            units.secretsByUnit[unit]?.forEach { writer.string($0) }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.key("hardening")
        KernelStatus.hardening().write(to: &writer)  // read back from the kernel, never from flags
        writer.key("audit")
        audit.snapshot.write(to: &writer)
        writer.endObject()
    }

    // MARK: registry ops

    private func register(_ request: RegisterRequest, reply writer: inout JSONWriter) throws(WireError) {
        guard Names.isProjectName(request.name) else {
            throw WireError(.invalidPayload, "name must match ^[a-z0-9][a-z0-9_-]{0,63}$ and not be \"admin\"")
        }
        guard request.projectPath.hasPrefix("/") else { throw WireError(.invalidPayload, "project_path must be absolute") }
        guard FileSystem.isDirectory(request.projectPath) else {
            throw WireError(.invalidPayload, "project_path is not an existing directory")
        }
        guard FileSystem.lastComponent(request.projectPath) == request.name else {
            throw WireError(.invalidPayload, "the last component of project_path must equal name")
        }
        if let gid = request.socketGID, !Credentials.isOwnGroup(gid) {
            throw WireError(.invalidPayload, "socket_gid \(gid) is not the broker's group or one of its supplementary groups")
        }
        guard projects[request.name] == nil else { throw WireError(.projectExists, "a project of that name is already registered") }

        let pin = try loadManifest(request.name, path: request.projectPath)
        let manifest = pin.manifest
        let record = ProjectRecord(name: request.name, projectPath: request.projectPath,
                                   allowedUIDs: request.allowedUIDs, socketGID: request.socketGID, pin: pin)
        let project: LiveProject
        do {
            project = try serve(record)
        } catch {
            throw WireError(.internalError, "cannot create the project socket: \(error)")
        }
        do throws(WireError) {
            try commitRegistry(record.name, record)
        } catch {
            stopServing(project)
            throw error
        }
        audit.record(.projectRegistered(project: record.name, allowlistSize: manifest.bindings.count))
        okReply(&writer) { $0.field("socket_path", project.socketPath) }
    }

    private func unregister(_ name: String, reply writer: inout JSONWriter) throws(WireError) {
        guard records[name] != nil else { throw WireError(.projectUnknown, "no project of that name is registered") }
        try commitRegistry(name, nil)
        let allowlistSize = projects[name]?.manifest.bindings.count ?? 0
        if let project = projects[name] { stopServing(project) }
        audit.record(.projectUnregistered(project: name, allowlistSize: allowlistSize))
        okReply(&writer)
    }

    /// Re-reads the manifest and, unless `dryRun`, pins and applies it (registry first, so a
    /// failed save leaves the old allowlist in force). The reply names what it grants.
    private func reload(_ name: String, dryRun: Bool, reply writer: inout JSONWriter) throws(WireError) {
        guard let project = projects[name] else { throw WireError(.projectUnknown, "no project of that name is being served") }
        let pin = try loadManifest(name, path: project.record.projectPath, audited: !dryRun)
        let before = Set(project.manifest.allowlist)
        let after = Set(pin.manifest.allowlist)
        let added = after.subtracting(before).sorted()
        let removed = before.subtracting(after).sorted()
        if !dryRun {
            let record = project.record.pinning(pin)
            let bindingsBefore = project.manifest.bindings
            try commitRegistry(name, record)
            apply(record, to: project)
            if project.manifest.bindings != bindingsBefore { revisionChanged(project) }
            audit.record(.projectReloaded(project: name, allowlistSize: pin.manifest.bindings.count, added: added, removed: removed))
        }
        okReply(&writer) { writer in
            for (key, names) in [("allowlist", pin.manifest.allowlist), ("added", added), ("removed", removed)] {
                writer.key(key)
                writer.beginArray()
                names.forEach { writer.string($0) }
                writer.endArray()
            }
        }
    }

    /// Reads and validates a manifest; a bad one becomes the reply's error and, when
    /// `audited`, a `manifest.invalid` event.
    func loadManifest(_ name: String, path: String, audited: Bool = true) throws(WireError) -> PinnedManifest {
        do {
            return try ManifestLoader.load(projectPath: path, project: name, ceiling: config.cacheLimits)
        } catch {
            switch error.kind {
            case .notFound:
                throw WireError(.manifestNotFound, error.message)
            case .invalid:
                if audited { audit.record(.manifestInvalid(project: name, error: error.message)) }
                throw WireError(.manifestInvalid, error.message)
            }
        }
    }
}
