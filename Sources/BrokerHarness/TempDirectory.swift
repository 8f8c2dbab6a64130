import BrokerCore
import Glibc

/// A directory under /tmp (or `parent`, e.g. /dev/shm for a memory-backed one) removed
/// (recursively) when released. Paths stay short: Unix socket paths must fit in 107 bytes.
public final class TempDirectory {
    public let path: String

    public init(prefix: String = "remo", in parent: String = "/tmp") throws(SystemError) {
        var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp") }
        path = String(cString: made)
        chmod(path, 0o755)
    }

    /// With `REMO_TEST_KEEP_DIR` set (`make test` sets it), a released directory is moved
    /// there instead of removed, so the leak gate (ci/check-leaks.sh) can scan every audit
    /// log, state dir and broker stderr the tests produced for a secret marker.
    deinit {
        if let keep = getenv("REMO_TEST_KEEP_DIR").map({ String(cString: $0) }), !keep.isEmpty {
            Self.keep(path, in: keep)
        } else {
            Self.removeTree(path)
        }
    }

    /// Moves `path` into `directory` as `<parent>-<name>` (rename, or `mv` across
    /// filesystems: /dev/shm dirs); removes it when that fails.
    static func keep(_ path: String, in directory: String) {
        try? FileSystem.createDirectories(directory, mode: 0o755)
        let target = directory + "/" + path.split(separator: "/").joined(separator: "-")
        if rename(path, target) == 0 { return }
        let moved = try? CommandRunner.run("/bin/mv", [path, target], timeoutSeconds: 60)
        if moved?.exitCode != 0 { removeTree(path) }
    }

    public func file(_ relative: String) -> String { path + "/" + relative }

    /// Writes `text` to `relative`, creating parent directories.
    @discardableResult
    public func write(_ relative: String, _ text: String, mode: mode_t = 0o644) throws(SystemError) -> String {
        let full = file(relative)
        try FileSystem.createDirectories(FileSystem.parentDirectory(full), mode: 0o755)
        try FileSystem.writeAtomically(full, Array(text.utf8), mode: mode)
        return full
    }

    public static func removeTree(_ path: String) {
        guard let names = try? FileSystem.listDirectory(path) else {
            unlink(path)
            return
        }
        for name in names {
            let child = path + "/" + name
            var info = stat()
            if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                chmod(child, 0o700)
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        rmdir(path)
    }
}
