import Glibc

/// File operations the broker and its tools need, as thin wrappers over the syscalls.
public enum FileSystem {
    /// Reads a whole regular file, refusing anything larger than `maxBytes` (so a hostile
    /// path cannot make the caller allocate without bound).
    public static func readFile(_ path: String, maxBytes: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = try retryingEINTR("read", subject: path) {
                chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= maxBytes else { throw SystemError("read", errno: EFBIG, subject: path) }
            bytes.append(contentsOf: chunk[0..<count])
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
