import CSeccomp

/// What `lstat`/`stat` say about a path: its kind, owner and permission bits.
public struct FileStatus: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case regular, directory, symlink, socket, other
    }

    public let kind: Kind
    public let uid: UInt32
    /// Permission bits only (`st_mode & 0o7777`).
    public let permissions: UInt32

    /// `lstat` (the path itself) or, with `followingSymlinks`, `stat` (what it points to).
    public static func of(_ path: String, followingSymlinks: Bool = false) throws(SystemError) -> FileStatus {
        var info = stat()
        let result = followingSymlinks ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else { throw SystemError(followingSymlinks ? "stat" : "lstat", subject: path) }
        let kind: Kind
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFSOCK: kind = .socket
        default: kind = .other
        }
        return FileStatus(kind: kind, uid: info.st_uid, permissions: UInt32(info.st_mode & 0o7777))
    }
}
