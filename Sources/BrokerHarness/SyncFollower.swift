import BrokerClient
import BrokerCore
import Glibc

/// A running `remo-broker sync` keeping one file binding current, watched with inotify: what
/// LatencyBench's rotation figure and Soak's rotation load measure (SPEC §10).
public final class SyncFollower {
    public let child: ChildProcess
    public let filePath: String
    let inotify: Int32
    let fileName: String
    public let stderrPath: String

    /// The manifest of project `name`: one scalar `secret` delivered as the file `path`.
    public static func manifest(name: String, secret: String, path: String) -> String {
        """
        schema_version = 1
        project = "\(name)"

        [secrets.\(secret)]
        fetch_as = "file"
        file_path = "\(path)"
        file_mode = "0600"
        template = "{{value}}"
        """
    }

    /// Starts `sync` against `socket`; the file must be on tmpfs (sync's own rule).
    public init(binary: String, socket: String, filePath: String, stderrPath: String) throws {
        self.filePath = filePath
        self.stderrPath = stderrPath
        fileName = FileSystem.lastComponent(filePath)
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0, inotify_add_watch(inotify, FileSystem.parentDirectory(filePath), UInt32(IN_MOVED_TO)) >= 0 else {
            throw HarnessError("cannot watch \(FileSystem.parentDirectory(filePath))")
        }
        let environment = ["PATH=/usr/bin:/bin", "HOME=/nonexistent", "REMO_BROKER_SOCKET=\(socket)"]
        child = try ChildProcess(binary, ["sync", "--retry-seconds", "30"], environment: environment, stderr: .file(stderrPath))
    }

    deinit {
        stop()
        close(inotify)
    }

    /// SIGTERM and reap (sync exits 0 on SIGTERM).
    @discardableResult
    public func stop() -> ExitStatus? {
        guard kill(child.pid, 0) == 0 else { return nil }
        child.signal(SIGTERM)
        return try? child.wait()
    }

    /// Waits until the file is renamed into place (sync's atomic write) and returns when that
    /// was seen; nil after `timeoutMilliseconds`.
    public func waitForRewrite(timeoutMilliseconds: Int) -> UInt64? {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            if count > 0 {
                let seen = Monotonic.nanoseconds()
                if names(in: buffer[0..<count]).contains(fileName) { return seen }
                continue
            }
            let now = Monotonic.nanoseconds()
            guard now < deadline else { return nil }
            var poller = pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
        }
    }

    /// Whether the file holds exactly `expected` (compared, never printed).
    public func holds(_ expected: String) -> Bool {
        (try? FileSystem.readFile(filePath)).map { $0 == Array(expected.utf8) } ?? false
    }

    private func names(in events: ArraySlice<UInt8>) -> [String] {
        var found: [String] = []
        var offset = events.startIndex
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= events.endIndex {
            let length = events.withUnsafeBytes { raw in
                Int(raw.loadUnaligned(fromByteOffset: offset - events.startIndex + 12, as: UInt32.self))
            }
            let nameBytes = events[(offset + header)..<min(events.endIndex, offset + header + length)]
            found.append(String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self))
            offset += header + length
        }
        return found
    }
}
