import BrokerCore
import CSeccomp

/// `watch (--file PATH | --command "CMD") [--debounce-ms 200] [--format json|env]`: the
/// sidecar pusher. Pushes on start, on every change of the file (inotify on its directory,
/// so rename-replace and atomic saves are seen), and whenever the admin socket re-appears
/// (broker restart). A bad set is reported by code and not pushed: the broker keeps the
/// previous one. Runs until SIGTERM/SIGINT; one log line per push, never a value.
enum WatchCommand {
    enum Source {
        case file(String)
        case command(String)
    }

    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        let source: Source
        switch (arguments.value("file"), arguments.value("command")) {
        case (let path?, nil): source = .file(path.hasPrefix("/") ? path : FileSystem.currentDirectory() + "/" + path)
        case (nil, let command?): source = .command(command)
        default: throw CommandFailure(message: "give exactly one of --file PATH or --command CMD", exitCode: 64)
        }
        guard let debounce = Int(arguments.value("debounce-ms") ?? "200"), debounce >= 0 else {
            throw CommandFailure(message: "--debounce-ms must be a number of milliseconds", exitCode: 64)
        }
        let watcher = Watcher(source: source, format: arguments.value("format"),
                              adminSocket: SocketPaths.adminSocket(socketDir: arguments.value("socket-dir")),
                              debounceMilliseconds: debounce)
        return try watcher.run()
    }
}

/// Which admin socket file a push went to. The inode alone is not enough: a broker killed
/// and restarted unlinks the stale socket and binds a new one, and ext4 hands the freed inode
/// number straight back; the change time (nanoseconds) tells the new file from the old.
struct SocketIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let changed: timespec

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        changed = info.st_ctim
    }

    static func == (lhs: SocketIdentity, rhs: SocketIdentity) -> Bool {
        lhs.device == rhs.device && lhs.inode == rhs.inode
            && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
    }
}

private final class Watcher {
    let source: WatchCommand.Source
    let format: String?
    let adminSocket: String
    let debounceMilliseconds: Int
    /// The admin socket of the last push attempt; a different one means the broker restarted
    /// and needs the set again.
    var pushedToSocket: SocketIdentity?
    var pushPending = true
    var unreachableLogged = false
    var pendingSince: UInt64 = 0

    init(source: WatchCommand.Source, format: String?, adminSocket: String, debounceMilliseconds: Int) {
        self.source = source
        self.format = format
        self.adminSocket = adminSocket
        self.debounceMilliseconds = debounceMilliseconds
    }

    func run() throws(CommandFailure) -> Int32 {
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        sigprocmask(SIG_BLOCK, &stopSignals, nil)
        let signalFD = signalfd(-1, &stopSignals, Int32(SFD_CLOEXEC))
        let inotify = inotify_init1(Int32(IN_CLOEXEC))
        guard signalFD >= 0, inotify >= 0 else { throw CommandFailure(message: "cannot set up signal/inotify watches", exitCode: 71) }
        var watchedName: String? = nil
        if case .file(let path) = source {
            let directory = FileSystem.parentDirectory(path)
            let events = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM)
            guard inotify_add_watch(inotify, directory, events) >= 0 else {
                throw CommandFailure(message: "cannot watch \(directory): \(SystemError("inotify_add_watch").errnoName)", exitCode: 66)
            }
            watchedName = FileSystem.lastComponent(path)
        }
        log("watching \(describe(source)); pushing to \(adminSocket)")
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0), pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, 250)
            if fds[0].revents != 0 {
                log("stopping")
                return 0
            }
            if fds[1].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                if count > 0, let watchedName, changed(buffer[0..<count], name: watchedName) {
                    pushPending = true
                    pendingSince = Monotonic.nanoseconds()
                }
            }
            // Broker (re)start: the admin socket is a new file.
            var info = stat()
            if stat(adminSocket, &info) == 0, SocketIdentity(info) != pushedToSocket, !pushPending {
                pushPending = true
                pendingSince = 0
            }
            let settled = Monotonic.nanoseconds() &- pendingSince >= UInt64(debounceMilliseconds) * 1_000_000
            if pushPending, settled {
                pushPending = false
                pushOnce()
            }
        }
    }

    /// Whether a batch of inotify events names the watched file.
    private func changed(_ events: ArraySlice<UInt8>, name: String) -> Bool {
        var offset = events.startIndex
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= events.endIndex {
            let length = events.withUnsafeBytes { raw in
                Int(raw.loadUnaligned(fromByteOffset: offset - events.startIndex + 12, as: UInt32.self))
            }
            let nameStart = offset + header
            let nameEnd = min(nameStart + length, events.endIndex)
            let eventName = String(decoding: events[nameStart..<nameEnd].prefix { $0 != 0 }, as: UTF8.self)
            if eventName == name { return true }
            offset = nameEnd
        }
        return false
    }

    private func pushOnce() {
        var info = stat()
        guard stat(adminSocket, &info) == 0 else {
            log("broker not running (no \(adminSocket)); will push when it appears")
            return
        }
        // A bad set is not retried until something changes: the file, or the broker.
        pushedToSocket = SocketIdentity(info)
        // Connect before reading the set: a killed broker leaves its socket file behind, and
        // a --command source should not run every round while nobody answers.
        let connection: BrokerConnection
        do {
            connection = try BrokerConnection.admin(path: adminSocket)
        } catch {
            unreachable(error)
            return
        }
        var bytes: [UInt8]
        switch readSource() {
        case .success(let read): bytes = read
        case .failure(let failure):
            log("not pushed: \(failure.message); the broker keeps its previous set")
            return
        }
        defer { SecureZero.zero(&bytes) }
        var set: SecretSetFile
        do {
            set = try PushCommand.parse(bytes, format: format, what: describe(source))
        } catch {
            log("not pushed: \(error.message); the broker keeps its previous set")
            return
        }
        defer { set.zeroize() }
        do {
            let reply = try connection.request(set.request)
            if reply.ok {
                log("pushed \(reply.int("secret_count") ?? 0) secret(s)")
            } else {
                log("not pushed: the broker answered \(reply.code ?? "error"): \(reply.message ?? "")")
            }
            unreachableLogged = false
        } catch {
            unreachable(error)
        }
    }

    /// Retried every round (250 ms) until the broker answers; said once per outage.
    private func unreachable(_ error: BrokerConnection.Failure) {
        pushedToSocket = nil
        if !unreachableLogged { log("not pushed: \(error); retrying until the broker answers") }
        unreachableLogged = true
    }

    private func readSource() -> Result<[UInt8], CommandFailure> {
        switch source {
        case .file(let path):
            do {
                return .success(try FileSystem.readFile(path, maxBytes: WireLimits.adminLineBytes))
            } catch {
                return .failure(CommandFailure(message: "cannot read \(path): \(error.errnoName)", exitCode: 66))
            }
        case .command(let command):
            do {
                let result = try ChildProcess.run("/bin/sh", ["-c", command], captureStderr: false)
                guard result.status.exitCode == 0 else {
                    var output = result.stdout
                    SecureZero.zero(&output)
                    return .failure(CommandFailure(message: "the command failed (\(result.status))", exitCode: 1))
                }
                return .success(result.stdout)
            } catch {
                return .failure(CommandFailure(message: "cannot run the command: \(error)", exitCode: 1))
            }
        }
    }

    private func describe(_ source: WatchCommand.Source) -> String {
        switch source {
        case .file(let path): return path
        case .command: return "the command's output"
        }
    }

    private func log(_ line: String) {
        Console.error("remo-broker watch: \(line)")
    }
}
