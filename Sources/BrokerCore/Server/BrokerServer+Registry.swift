import CSeccomp

/// Project sockets and the registry file: binding, unbinding, restoring at start.
extension BrokerServer {
    var registryFile: RegistryFile { RegistryFile(path: config.registryPath) }

    func saveRegistry() throws(SystemError) {
        try FileSystem.createDirectories(config.stateDir, mode: 0o700)
        try registryFile.save(Array(records.values))
    }

    /// Sets (or, with nil, removes) `name`'s record and saves the registry; when the save
    /// fails the record is put back, so memory and file never disagree.
    func commitRegistry(_ name: String, _ record: ProjectRecord?) throws(WireError) {
        let previous = records[name]
        records[name] = record
        do {
            try saveRegistry()
        } catch {
            records[name] = previous
            throw WireError(.internalError, "cannot save the registry: \(error)")
        }
    }

    /// Binds `<socket dir>/projects/<name>/sock` and starts serving the project.
    ///
    /// The directory is created owner-only, the socket bound and given its mode and group,
    /// and only then is the directory opened to the group: no window where a client could
    /// reach a half-set-up socket.
    /// - Precondition: `record.pin` is set (only pinned manifests are ever served).
    func serve(_ record: ProjectRecord) throws(SystemError) -> LiveProject {
        guard let pin = record.pin else { throw SystemError("serve", errno: EINVAL, subject: record.name) }
        let directory = config.projectSocketDir(record.name)
        let socketPath = config.projectSocketPath(record.name)
        if mkdir(directory, 0o700) != 0, errno != EEXIST { throw SystemError("mkdir", subject: directory) }
        guard chmod(directory, 0o700) == 0 else { throw SystemError("chmod", subject: directory) }
        let fd = try UnixSocket.listen(at: socketPath, mode: mode_t(config.projectSocketMode))
        do throws(SystemError) {
            if let gid = record.socketGID ?? config.projectSocketGID {
                guard chown(socketPath, UInt32.max, gid) == 0 else { throw SystemError("chown", subject: socketPath) }
                guard chown(directory, UInt32.max, gid) == 0 else { throw SystemError("chown", subject: directory) }
            }
            // Group may traverse to the socket when the socket grants the group anything.
            let directoryMode: mode_t = config.projectSocketMode & 0o070 != 0 ? 0o750 : 0o700
            guard chmod(directory, directoryMode) == 0 else { throw SystemError("chmod", subject: directory) }
            let token = newToken()
            try epoll.add(fd, token: token, interest: .readable)
            let project = LiveProject(record: record, socketPath: socketPath, listenerFD: fd, listenerToken: token,
                                      manifest: pin.manifest, cacheCeiling: config.cacheLimits,
                                      bucket: TokenBucket(ratePerSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst,
                                                          now: Monotonic.nanoseconds()))
            sources[token] = .projectListener(record.name)
            projects[record.name] = project
            return project
        } catch {
            Libc.close(fd)
            unlink(socketPath)
            rmdir(directory)
            throw error
        }
    }

    /// Closes the project's listener and connections and removes its socket and directory.
    func stopServing(_ project: LiveProject) {
        for connection in connections where connection.projectName == project.name { close(connection) }
        project.closeListener()
        sources[project.listenerToken] = nil
        projects[project.name] = nil
        unlink(project.socketPath)
        rmdir(config.projectSocketDir(project.name))
    }

    /// Makes `record` (with a new pin) the project's approved state: manifest, cache, and
    /// the file comparison start afresh.
    func apply(_ record: ProjectRecord, to project: LiveProject) {
        guard let pin = record.pin else { return }
        project.record = record
        project.manifest = pin.manifest
        project.cache = ProjectCache(limits: pin.manifest.cache.capped(by: config.cacheLimits))
        project.manifestFile = .matchesPin
        project.reportedManifestFile = .matchesPin
    }

    /// Compares the manifest file `reload` would read now with the pin; a difference shows in
    /// `status` and is audited once per new file digest. Never changes the allowlist.
    func checkManifestFile(of project: LiveProject) {
        guard let pinned = project.record.pin?.sha256 else { return }
        let known = ManifestLoader.currentDigest(projectPath: project.record.projectPath, known: project.knownManifestDigest)
        project.knownManifestDigest = known
        let digest = known.digest
        let state: ManifestFileState = digest == pinned ? .matchesPin : .changed(digest: digest)
        project.manifestFile = state
        guard state != project.reportedManifestFile else { return }
        project.reportedManifestFile = state
        if case .changed(let fileDigest) = state {
            audit.record(.manifestChanged(project: project.name, pinnedSHA256: pinned, fileSHA256: fileDigest))
        }
    }

    /// Serves every project in the registry from its pinned manifest, never from the file
    /// (SPEC §3.2). A record without a pin (registry of 0.1.0) is pinned from its file once,
    /// audited as `manifest.pinned`; one whose file is unusable then is logged and kept
    /// unserved. Files are only compared with the pins, never trusted.
    public func restoreRegistry() throws(RegistryFile.Corrupt) {
        var pinnedNow = false
        for loaded in try registryFile.load() {
            var record = loaded
            if record.pin == nil {
                do throws(WireError) {
                    let pin = try loadManifest(record.name, path: record.projectPath)
                    record = record.pinning(pin)
                    pinnedNow = true
                    audit.record(.manifestPinned(project: record.name, pinnedSHA256: pin.sha256, fileSHA256: pin.sha256))
                } catch {
                    records[record.name] = record
                    Console.error("remo-broker: not serving project \(record.name): cannot pin its manifest: \(error.message)")
                    continue
                }
            }
            records[record.name] = record
            do {
                checkManifestFile(of: try serve(record))
            } catch {
                Console.error("remo-broker: not serving project \(record.name): \(error)")
            }
        }
        if pinnedNow {
            do {
                try saveRegistry()
            } catch {
                Console.error("remo-broker: cannot save the registry with the new pins (they are taken again at next start): \(error)")
            }
        }
    }
}
