import CSeccomp

/// The open audit file, owned by the writer thread. Appends whole lines with one `write`
/// per batch where the kernel allows, and tells whether `path` still names this file
/// (logrotate-style rotation renames it away).
struct AuditFile {
    let path: String
    private let fd: Int32
    private let device: UInt64
    private let inode: UInt64
    private let isRegularFile: Bool
    /// A write failed inside a line and the fragment could not be truncated away: the next
    /// write starts with a line break, so every later line still parses on its own.
    private var needsLineBreak = false

    /// Opens (creating with mode 0600) for appending. Follows symlinks like any log file;
    /// accepts a regular file or a character device (e.g. /dev/null), nothing that could
    /// block the writer or is not a file (FIFO, socket, directory, block device).
    static func open(_ path: String) throws(SystemError) -> AuditFile {
        // O_NONBLOCK only so that opening a FIFO cannot hang; it is cleared below.
        let fd = try retryingEINTR("open", subject: path) {
            Libc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o600)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = SystemError("fstat", subject: path)
            Libc.close(fd)
            throw error
        }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFCHR else {
            Libc.close(fd)
            throw SystemError("open (not a regular file)", errno: EINVAL, subject: path)
        }
        guard fcntl(fd, F_SETFL, O_APPEND) == 0 else {
            let error = SystemError("fcntl(F_SETFL)", subject: path)
            Libc.close(fd)
            throw error
        }
        return AuditFile(path: path, fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                         isRegularFile: type == S_IFREG)
    }

    private init(path: String, fd: Int32, device: UInt64, inode: UInt64, isRegularFile: Bool) {
        self.path = path
        self.fd = fd
        self.device = device
        self.inode = inode
        self.isRegularFile = isRegularFile
    }

    /// The next append starts with a line break: a broker killed in the middle of a `write`
    /// left a torn last line (see `AuditChainStart.scanTail`), and the first new link must
    /// start on a line of its own instead of being glued to the fragment.
    mutating func startOnNewLine() { needsLineBreak = true }

    func close() {
        // Not retried on EINTR: Linux releases the descriptor whatever close returns.
        _ = Libc.close(fd)
    }

    /// False once `path` is gone or names another file (rotated away, replaced); true if it
    /// still names this file, or if it cannot be checked (e.g. EACCES on a directory) — then
    /// the descriptor is the best place the events can still go.
    func isStillAtPath() -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return !(errno == ENOENT || errno == ENOTDIR) }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Appends `lines` (encoded events, each ending in "\n") as the next links of `chain`,
    /// using `buffer` as scratch so they go out in as few `write` calls as the kernel allows.
    /// Handles partial writes and EINTR. Returns how many lines were written completely (the
    /// chain advanced by exactly those), and the error that stopped it, if any.
    mutating func append(_ lines: ArraySlice<[UInt8]>, chain: inout AuditChain,
                         buffer: inout [UInt8]) -> (written: Int, error: SystemError?) {
        guard !lines.isEmpty else { return (0, nil) }
        buffer.removeAll(keepingCapacity: true)
        let prefixCount = needsLineBreak ? 1 : 0
        if needsLineBreak { buffer.append(UInt8(ascii: "\n")) }
        for line in lines { chain.stage(line, into: &buffer) }

        var offset = 0
        var failure: SystemError?
        buffer.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            while offset < raw.count {
                let count = Libc.write(fd, base + offset, raw.count - offset)
                if count > 0 {
                    offset += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    // write(2) returning 0 for a non-empty buffer would loop forever: call it EIO.
                    failure = SystemError("write", errno: count == 0 ? EIO : errno, subject: path)
                    return
                }
            }
        }
        // Don't keep a huge scratch buffer alive after a burst (idle RSS is a gate).
        if buffer.capacity > 1 << 20 { buffer = [] }

        if offset >= prefixCount { needsLineBreak = false }
        var remaining = max(0, offset - prefixCount)
        var whole = 0
        while whole < chain.stagedCount {
            let length = chain.stagedLength(whole)
            guard remaining >= length else { break }
            remaining -= length
            whole += 1
        }
        chain.commit(whole)
        if failure != nil && remaining > 0 { removeTornLine(byteCount: remaining) }
        return (whole, failure)
    }

    /// A failed write left the first `byteCount` bytes of a line in the file. Cut them off
    /// again (they are at the end: O_APPEND), or failing that, end them with a line break.
    private mutating func removeTornLine(byteCount: Int) {
        var info = stat()
        if isRegularFile, fstat(fd, &info) == 0, info.st_size >= off_t(byteCount) {
            while true {
                if ftruncate(fd, info.st_size - off_t(byteCount)) == 0 { return }
                if errno != EINTR { break }
            }
        }
        needsLineBreak = true
    }
}
