import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc

/// A broker child started the way the hardening tests need: behind a command prefix
/// (setpriv, prlimit, `sh -c 'cd DIR && exec ...'`) and with a chosen environment. Paths
/// and admin helpers come from a `BrokerProcess` that is never started itself.
final class LaunchedBroker {
    let layout: BrokerProcess
    private(set) var child: ChildProcess?

    init(_ arguments: [String] = [], root: TempDirectory? = nil) throws {
        layout = try BrokerProcess(binary: TestBinary.path, arguments: arguments, root: root)
    }

    deinit {
        if let child {
            kill(child.pid, SIGKILL)
            _ = try? child.wait()
        }
    }

    var pid: pid_t { child?.pid ?? -1 }
    var stderrText: String { layout.stderrText }

    /// Spawns `prefix + [binary, "serve", ...]` without waiting for anything.
    func launch(prefix: [String] = [], environment: [String]? = nil) throws {
        precondition(child == nil, "already launched")
        let command = prefix + [layout.binary] + layout.serveArguments
        child = try ChildProcess(command[0], Array(command.dropFirst()), environment: environment,
                                 stderr: .file(layout.stderrPath))
    }

    /// Launches and waits until `status` is answered; throws with the broker's stderr if it
    /// exits first.
    func start(prefix: [String] = [], environment: [String]? = nil, timeoutSeconds: Double = 15) throws {
        try launch(prefix: prefix, environment: environment)
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while Monotonic.nanoseconds() < deadline {
            if let reply = try? layout.admin().request(op: "status"), reply.ok { return }
            if let status = exitStatus(waitingSeconds: 0) {
                throw HarnessError("broker exited during start-up (\(status)): \(stderrText)")
            }
            usleep(10_000)
        }
        throw HarnessError("broker did not answer status within \(timeoutSeconds) s: \(stderrText)")
    }

    /// The exit status once the child has ended (nil if still running after `waitingSeconds`).
    func exitStatus(waitingSeconds: Double) -> ExitStatus? {
        guard let child else { return nil }
        let deadline = Monotonic.nanoseconds() + UInt64(waitingSeconds * 1e9)
        repeat {
            var raw: Int32 = 0
            if waitpid(child.pid, &raw, WNOHANG) == child.pid {
                self.child = nil
                return ExitStatus(raw: raw)
            }
            usleep(5_000)
        } while Monotonic.nanoseconds() < deadline
        return nil
    }

    var isRunning: Bool {
        guard let child else { return false }
        return kill(child.pid, 0) == 0 && exitStatusPeek(child.pid) == nil
    }

    private func exitStatusPeek(_ pid: pid_t) -> ExitStatus? {
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        child = nil
        return ExitStatus(raw: raw)
    }

    /// Sends `signal` and waits (up to 15 s) for the exit status.
    func stop(signal: Int32 = SIGTERM) throws -> ExitStatus {
        guard let child else { throw HarnessError("broker not running") }
        kill(child.pid, signal)
        guard let status = exitStatus(waitingSeconds: 15) else { throw HarnessError("broker did not exit after signal \(signal)") }
        return status
    }

    // MARK: status and /proc

    func status() throws -> Reply {
        let reply = try layout.admin().request(op: "status")
        guard reply.ok else { throw HarnessError("status failed: \(reply.text)") }
        return reply
    }

    /// The `hardening` object of `status` as name → Bool.
    func hardening() throws -> [String: Bool] {
        let reply = try status()
        guard case .object(let members)? = reply.document["hardening"] else { throw HarnessError("no hardening object: \(reply.text)") }
        var flags: [String: Bool] = [:]
        for member in members {
            if case .bool(let value) = member.value { flags[reply.document.string(member.key)] = value }
        }
        return flags
    }

    /// `/proc/<pid>/status` of the main thread, and of every thread.
    var procStatus: [String: String] { KernelStatus.procStatus(pid: String(pid)) }
    var threadStatuses: [[String: String]] {
        ((try? FileSystem.listDirectory("/proc/\(pid)/task")) ?? []).map { KernelStatus.procStatus(pid: "\(pid)/task/\($0)") }
    }
}

/// Whether the binary under test is a debug build with the hidden `--debug-attempt` option
/// (`REMO_BROKER_BINARY` may point the tests at a release build, which must not have it).
let binaryHasDebugAttempt: Bool = {
    guard let result = try? ChildProcess.run(TestBinary.path, ["serve", "--debug-attempt", "no-such-operation"]) else { return false }
    return String(decoding: result.stderr, as: UTF8.self).contains("--debug-attempt must be one of")
}()

extension ExitStatus {
    /// WCOREDUMP: the kernel wrote a core file for this death.
    var dumpedCore: Bool { signal != nil && raw & 0x80 != 0 }
}

/// Runs as another uid (and group, no supplementary groups) through util-linux setpriv.
func asUser(_ uid: UInt32, _ gid: UInt32, extra: [String] = []) -> [String] {
    ["/usr/bin/setpriv", "--reuid", String(uid), "--regid", String(gid), "--clear-groups"] + extra
}

/// Gives `path` (a test's temp root) to `uid` so a broker running as that uid can create
/// its directories there.
func handOver(_ path: String, to uid: UInt32, _ gid: UInt32) throws {
    guard chown(path, uid, gid) == 0 else { throw SystemError("chown", subject: path) }
}

/// A JSON request line built with the writer.
func requestLine(_ build: (inout JSONWriter) -> Void) -> JSONWriter {
    var writer = JSONWriter()
    writer.beginObject()
    build(&writer)
    writer.endObject()
    return writer
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

func currentEnvironment() -> [String] {
    var result: [String] = []
    var pointer = environ
    while let entry = pointer.pointee {
        result.append(String(cString: entry))
        pointer += 1
    }
    return result
}

/// An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET.
final class DatagramReceiver {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let bound = try UnixSocket.withAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw SystemError("bind", subject: path) }
        chmod(path, 0o666)
    }

    deinit { close(fd) }

    /// Every datagram received so far.
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }
}
