import Glibc

/// Project sockets and the registry file: binding, unbinding, restoring at start.
extension BrokerServer {
    var registryFile: RegistryFile { RegistryFile(path: config.registryPath) }

    func saveRegistry() throws(SystemError) {
        try FileSystem.createDirectories(config.stateDir, mode: 0o700)
        try registryFile.save(Array(records.values))
    }

    /// Binds `<socket dir>/projects/<name>/sock` and starts serving the project.
    ///
    /// The directory is created owner-only, the socket bound and given its mode and group,
    /// and only then is the directory opened to the group: no window where a client could
    /// reach a half-set-up socket.
    func serve(_ record: ProjectRecord, manifest: Manifest) throws(SystemError) -> LiveProject {
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
                                      manifest: manifest,
                                      bucket: TokenBucket(ratePerSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst,
                                                          now: Monotonic.nanoseconds()))
            sources[token] = .projectListener(record.name)
            projects[record.name] = project
            return project
        } catch {
            Glibc.close(fd)
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

    /// Re-registers everything in the registry file. A project whose manifest (or path) went
    /// bad is logged, audited and skipped; the rest come back.
    public func restoreRegistry() throws {
        for record in try registryFile.load() {
            records[record.name] = record
            let manifest: Manifest
            do throws(WireError) {
                manifest = try loadManifest(record.name, path: record.projectPath)
            } catch {
                Console.error("remo-broker: not serving project \(record.name): \(error.message)")
                continue
            }
            do {
                _ = try serve(record, manifest: manifest)
            } catch {
                Console.error("remo-broker: not serving project \(record.name): \(error)")
            }
        }
    }
}
