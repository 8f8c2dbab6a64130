import CSeccomp

/// Handing what a root broker created over to the configured `user` before the switch.
extension BrokerServer {
    /// Makes `account` the owner of what the broker created as root and must still change
    /// as that user: the socket directory, `projects/` with every project directory and
    /// socket in it, admin.sock, the credentials socket, the state directory with the registry, the audit log file,
    /// and the audit log's directory when `auditDirectory` is given (the daemon passes it
    /// only when it created that directory at this start; a directory it did not create,
    /// such as /var/log, is never given away). Groups are left alone (socket_gid,
    /// admin_gid). Symlinks are not followed. Failures are reported, not fatal: the broker
    /// still serves, and the operation that needs the path reports its own error.
    public func handOver(to account: UserAccount, auditDirectory: String?) {
        var paths = [config.socketDir, config.projectsDir, config.adminSocketPath, config.stateDir]
        if credentialsListenerFD >= 0 { paths.append(config.credentialsSocketPath) }
        for name in (try? FileSystem.listDirectory(config.projectsDir)) ?? [] {
            paths.append(config.projectSocketDir(name))
            paths.append(config.projectSocketPath(name))
        }
        for file in [config.registryPath, config.registryPath + ".tmp"] where FileSystem.exists(file) {
            paths.append(file)
        }
        if let auditDirectory { paths.append(auditDirectory) }
        var info = stat()
        // The audit file only if it is a regular file the broker could have made (not
        // /dev/null or another device, not someone else's file).
        if lstat(config.auditLogPath, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() {
            paths.append(config.auditLogPath)
        }
        for path in paths where lstat(path, &info) == 0 {
            if lchown(path, account.uid, UInt32.max) != 0 {
                Console.error("remo-broker: WARNING: cannot hand \(path) to \(account.label): \(SystemError("lchown").errnoName)")
            }
        }
        let directory = FileSystem.parentDirectory(config.auditLogPath)
        if !Self.isWritable(directory, by: account) {
            Console.error("remo-broker: WARNING: audit log directory \(directory) is not writable by \(account.label): "
                + "the log cannot be recreated after rotation (make it writable by that user)")
        }
    }

    /// Whether `account` may create files in `directory` (ordinary mode bits; ACLs ignored).
    static func isWritable(_ directory: String, by account: UserAccount) -> Bool {
        var info = stat()
        guard stat(directory, &info) == 0 else { return false }
        if info.st_uid == account.uid { return info.st_mode & 0o300 == 0o300 }
        if account.groups.contains(info.st_gid) { return info.st_mode & 0o030 == 0o030 }
        return info.st_mode & 0o003 == 0o003
    }
}
