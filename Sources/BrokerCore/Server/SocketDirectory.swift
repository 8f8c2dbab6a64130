import CSeccomp

/// SPEC §13 "Socket directories": the directory that holds admin.sock and every project
/// socket must belong to the broker, or whoever created it first (another local user
/// squatting `/tmp/remo-broker-$UID`) could replace the sockets and capture what clients
/// send. The broker checks it before binding; clients check it before talking (`trusts`).
public enum SocketDirectory {
    public struct Untrusted: Error, Equatable, Sendable, CustomStringConvertible {
        public let path: String
        public let problem: String
        public var description: String { "\(path) \(problem)" }
    }

    /// Creates `path` (mode 0711, as before) if missing, then requires it to be a real directory (not
    /// a symlink) owned by one of `owners`, with no write bit for group or others.
    /// `owners` is the broker's euid, plus the account a root broker switches to (it owns
    /// the directory after the first start).
    public static func prepare(_ path: String, owners: [UInt32]) throws(Untrusted) {
        let status: FileStatus
        do {
            try FileSystem.createDirectories(path, mode: 0o711)
            status = try FileStatus.of(path)
        } catch {
            throw Untrusted(path: path, problem: "cannot be created or examined: \(error)")
        }
        switch status.kind {
        case .directory: break
        case .symlink: throw Untrusted(path: path, problem: "is a symlink; the socket dir must be a real directory")
        default: throw Untrusted(path: path, problem: "is not a directory")
        }
        guard owners.contains(status.uid) else {
            throw Untrusted(path: path, problem: "is owned by uid \(status.uid), not by this broker (uid \(geteuid())); "
                + "someone else created it: remove it or choose another socket_dir")
        }
        guard status.permissions & 0o022 == 0 else {
            throw Untrusted(path: path, problem: "is writable by group or others (mode \(ConfigKeys.octal(status.permissions))); "
                + "chmod go-w it or choose another socket_dir")
        }
    }

    /// The client side: `adminSocket`'s directory must belong to root or to this user. A
    /// missing directory is not refused here (connecting then fails with its own error).
    public static func trusts(adminSocket: String) throws(Untrusted) {
        let directory = FileSystem.parentDirectory(adminSocket)
        guard let status = try? FileStatus.of(directory, followingSymlinks: true) else { return }
        let me = geteuid()
        guard status.uid == 0 || status.uid == me else {
            throw Untrusted(path: directory, problem: "is owned by uid \(status.uid), not by root or you (uid \(me)): "
                + "refusing to talk to \(adminSocket) (whoever owns the directory could be impersonating the broker)")
        }
    }
}
