import CSeccomp

/// File operations the broker and its tools need, as thin wrappers over the syscalls.
public enum FileSystem {
    /// Reads a whole regular file, refusing anything larger than `maxBytes` (so a hostile
    /// path cannot make the caller allocate without bound).
    public static func readFile(_ path: String, maxBytes: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        defer { close(fd) }
        return try readAll(fd: fd, maxBytes: maxBytes, subject: path)
    }

    /// Reads an open descriptor to its end (standard input as it is, not reopened through
    /// /dev/stdin, which a pipe made by another user refuses), at most `maxBytes`.
    public static func readAll(fd: Int32, maxBytes: Int, subject: String) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var tooLarge = false
        try readChunks(fd: fd, subject: subject) { chunk in
            guard bytes.count + chunk.count <= maxBytes else { tooLarge = true; return false }
            bytes.append(contentsOf: chunk)
            return true
        }
        if tooLarge { throw SystemError("read", errno: EFBIG, subject: subject) }
        return bytes
    }

    /// Streams `path` to `body` in chunks of up to `chunkSize` bytes until the file ends or
    /// `body` returns false: for files too large to hold whole (a release soak's audit log).
    public static func readChunks(_ path: String, chunkSize: Int = 64 * 1024,
                                  _ body: (ArraySlice<UInt8>) -> Bool) throws(SystemError) {
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        defer { close(fd) }
        try readChunks(fd: fd, subject: path, chunkSize: chunkSize, body)
    }

    static func readChunks(fd: Int32, subject: String, chunkSize: Int = 64 * 1024,
                           _ body: (ArraySlice<UInt8>) -> Bool) throws(SystemError) {
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = try retryingEINTR("read", subject: subject) {
                chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 || !body(chunk[0..<count]) { return }
        }
    }

    /// Names in a directory, without "." and "..", sorted for deterministic iteration.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", subject: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

extension FileSystem {
    /// Replaces `path` with `bytes` so that a crash at any point leaves the old or the new
    /// content: write a temp file beside it, fsync, rename over, fsync the directory.
    /// `durable: false` skips both fsyncs: still atomic for a crashed process, but a power
    /// loss may lose the update (for data no more durable than what it describes).
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t, durable: Bool = true) throws(SystemError) {
        let temp = path + ".tmp"
        let fd = try retryingEINTR("open", subject: temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode) }
        do throws(SystemError) {
            var offset = 0
            while offset < bytes.count {
                let written = try retryingEINTR("write", subject: temp) {
                    bytes.withUnsafeBytes { Libc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                }
                offset += written
            }
            if durable { _ = try retryingEINTR("fsync", subject: temp) { fsync(fd) } }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else {
            let error = SystemError("rename", subject: path)
            unlink(temp)
            throw error
        }
        if durable { try syncDirectory(of: path) }
    }

    /// fsync of the directory holding `path`, so a rename or unlink in it is durable.
    public static func syncDirectory(of path: String) throws(SystemError) {
        let directory = parentDirectory(path)
        let fd = try retryingEINTR("open", subject: directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        _ = try retryingEINTR("fsync", subject: directory) { fsync(fd) }
    }

    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func lastComponent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// mkdir -p with `mode` for the directories it creates.
    public static func createDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0, errno != EEXIST {
                throw SystemError("mkdir", subject: current)
            }
        }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

extension FileSystem {
    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
