import CSeccomp

/// Reads a file inside a directory a tenant controls (the project workspace, which its
/// devcontainer can write): SPEC §13 "files a project controls".
///
/// Every component below `root` is opened with `pathOnly | O_NOFOLLOW` and checked with `fstat`
/// before anything is opened for reading, so a symlink cannot lead out of the project and a
/// FIFO, device or socket is never opened at all (opening a FIFO for reading blocks until a
/// writer appears: that once stalled the whole serving loop). The final open is non-blocking
/// and must name the same inode that was checked; the read is capped in size and time.
public enum ProjectFile {
    public enum Failure: Error, Equatable, Sendable {
        /// Nothing at that path (a component is absent, or a parent is not a directory).
        case missing
        /// Something is there but it may not be used; the text says what (never file content).
        case refused(String)
    }

    /// The whole file `root/relative` (relative uses `/` separators, no `..`).
    /// - Parameter timeoutNanoseconds: how long reading may take in all (a file on a stuck
    ///   network or FUSE mount must not hold the caller indefinitely between reads).
    public static func read(root: String, relative: String, maxBytes: Int,
                            timeoutNanoseconds: UInt64 = 200_000_000) throws(Failure) -> [UInt8] {
        try vetted(root: root, relative: relative, maxBytes: maxBytes) { (directory, name, path, info) throws(Failure) in
            try readChecked(directory, name, path: path, expected: info, maxBytes: maxBytes, timeoutNanoseconds: timeoutNanoseconds)
        }
    }

    /// What identifies the file's content without reading it: device, inode, size, change and
    /// modification times. Equal identities mean the bytes were not rewritten in between.
    public struct Identity: Equatable, Sendable {
        let device: UInt64, inode: UInt64, size: Int64
        let modified: (Int, Int), changed: (Int, Int)

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = (Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec))
            changed = (Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec))
        }

        public static func == (a: Identity, b: Identity) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size && a.modified == b.modified && a.changed == b.changed
        }
    }

    /// The identity of `root/relative` under the same rules as `read`, without opening it for
    /// reading (a few `O_PATH` opens and `fstat`s).
    public static func identity(root: String, relative: String, maxBytes: Int) throws(Failure) -> Identity {
        try vetted(root: root, relative: relative, maxBytes: maxBytes) { (_, _, _, info) throws(Failure) in Identity(info) }
    }

    /// Walks `relative` below `root` (no symlink, parents directories), vets the last
    /// component (a regular file of at most `maxBytes`) and hands it to `body` with the
    /// directory that holds it.
    private static func vetted<R>(root: String, relative: String, maxBytes: Int,
                                  _ body: (Int32, String, String, stat) throws(Failure) -> R) throws(Failure) -> R {
        let components = relative.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(".."), !components.contains(".") else {
            throw .refused("\(relative): not a plain relative path")
        }
        var directory = open(root, pathOnly | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .missing }
            throw .refused("\(root): cannot open (\(errnoText()))")
        }
        defer { close(directory) }
        var reached = root
        for (index, component) in components.enumerated() {
            reached += "/" + component
            let node = openat(directory, component, pathOnly | O_NOFOLLOW | O_CLOEXEC)
            guard node >= 0 else {
                if errno == ENOENT || errno == ENOTDIR { throw .missing }
                throw .refused("\(reached): cannot open (\(errnoText()))")
            }
            var info = stat()
            guard fstat(node, &info) == 0 else {
                close(node)
                throw .refused("\(reached): cannot stat (\(errnoText()))")
            }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFLNK {
                close(node)
                throw .refused("\(reached) is a symlink; it must be a regular file inside the project, reached without symlinks")
            }
            if index < components.count - 1 {
                // A parent that is not a directory cannot hold the file: nothing is there.
                guard kind == S_IFDIR else { close(node); throw .missing }
                close(directory)
                directory = node
                continue
            }
            close(node)
            guard kind == S_IFREG else {
                throw .refused("\(reached) is \(describe(kind)), not a regular file")
            }
            guard info.st_size <= maxBytes else {
                throw .refused("\(reached) is larger than \(maxBytes) bytes")
            }
            return try body(directory, component, reached, info)
        }
        throw .missing
    }

    /// Opens for reading (non-blocking, no symlink) and reads, after checking that the inode
    /// is the one `fstat` vetted: a swap between the check and the open is refused.
    private static func readChecked(_ directory: Int32, _ name: String, path: String, expected: stat, maxBytes: Int,
                                    timeoutNanoseconds: UInt64) throws(Failure) -> [UInt8] {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missing }
            throw .refused("\(path): cannot open (\(errnoText()))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_dev == expected.st_dev, info.st_ino == expected.st_ino,
              info.st_mode & S_IFMT == S_IFREG
        else {
            throw .refused("\(path) changed while it was being opened")
        }
        let deadline = Monotonic.nanoseconds() &+ timeoutNanoseconds
        var bytes: [UInt8] = []
        var stopped: Failure?
        do {
            try FileSystem.readChunks(fd: fd, subject: path, chunkSize: 16 * 1024) { chunk in
                guard bytes.count + chunk.count <= maxBytes else {
                    stopped = .refused("\(path) is larger than \(maxBytes) bytes")
                    return false
                }
                bytes.append(contentsOf: chunk)
                if Monotonic.nanoseconds() > deadline {
                    stopped = .refused("\(path): reading timed out")
                    return false
                }
                return true
            }
        } catch {
            throw .refused("\(path): cannot read (\(error.errnoName))")
        }
        if let stopped { throw stopped }
        return bytes
    }

    /// O_PATH (Linux asm-generic and x86 value): Glibc does not export it without _GNU_SOURCE.
    /// An O_PATH descriptor can be fstat'ed and used as openat's directory, but never read,
    /// and opening one has no side effect on the file (a FIFO does not wait for a writer).
    private static let pathOnly: Int32 = 0o10000000

    /// strerror text of the current errno (read at once, before anything else can change it).
    private static func errnoText() -> String {
        SystemError("", errno: errno).errnoName
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "not a regular file"
        }
    }
}
