import BrokerClient
import BrokerCore
import BrokerHarness
import CSeccomp
import Glibc

// What the client-tool tests (exec, watch, audit, push, the devcontainer example) share.
// Secret values are markers (`REMO_TEST_MARKER_...`); a test compares them to a Bool first
// and never prints one.

enum Marker {
    static let prefix = "REMO_TEST_MARKER_"

    /// A fresh marker value, unique per call.
    static func make(_ label: String) -> String {
        prefix + label + "_" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
    }

    /// Whether `text` holds any marker at all (stdout/stderr/log checks).
    static func appears(in text: String) -> Bool { text.contains(prefix) }
}

/// Polls `condition` every 20 ms until it holds or `timeoutSeconds` pass. Deadlines are
/// generous: the tests check what happens, never how fast.
func eventually(timeoutSeconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
    while true {
        if condition() { return true }
        if Monotonic.nanoseconds() >= deadline { return false }
        usleep(20_000)
    }
}

/// One finished run of the CLI.
struct CLIRun {
    let status: ExitStatus
    let stdout: String
    let stderr: String
    var exitCode: Int32? { status.exitCode }
    /// stdout + stderr, for "no value leaked" checks.
    var output: String { stdout + stderr }
}

/// A minimal environment, so nothing from the test runner (REMO_BROKER_* included) leaks in.
func toolEnvironment(home: String = "/nonexistent", _ extra: [String: String] = [:]) -> [String] {
    var variables = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LC_ALL": "C"]
    for (key, value) in extra { variables[key] = value }
    return variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
}

/// Runs `remo-broker arguments...` to completion.
func runCLI(_ arguments: [String], environment: [String]? = nil) throws -> CLIRun {
    let result = try ChildProcess.run(TestBinary.path, arguments, environment: environment ?? toolEnvironment())
    return CLIRun(status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self),
                  stderr: String(decoding: result.stderr, as: UTF8.self))
}

/// A long-running `remo-broker` client (watch, audit --tail, a waiting exec) whose output
/// goes to files; killed when released if the test did not stop it.
final class RunningTool {
    let child: ChildProcess
    let stdoutPath: String
    let stderrPath: String
    private(set) var status: ExitStatus?

    var pid: pid_t { child.pid }

    init(_ arguments: [String], environment: [String]? = nil, in directory: TempDirectory, name: String) throws {
        stdoutPath = directory.file("\(name).stdout")
        stderrPath = directory.file("\(name).stderr")
        child = try ChildProcess(TestBinary.path, arguments, environment: environment ?? toolEnvironment(),
                                 stdout: .file(stdoutPath), stderr: .file(stderrPath))
    }

    deinit {
        if status == nil {
            child.signal(SIGKILL)
            _ = try? child.wait()
        }
    }

    var stdout: String { Self.read(stdoutPath) }
    var stderr: String { Self.read(stderrPath) }

    static func read(_ path: String) -> String {
        (try? FileSystem.readFile(path, maxBytes: 64 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The exit status once the process has ended, polling up to `timeoutSeconds`; nil if
    /// it is still running then.
    func waitForExit(timeoutSeconds: Double = 30) -> ExitStatus? {
        if let status { return status }
        _ = eventually(timeoutSeconds: timeoutSeconds) {
            var raw: Int32 = 0
            if waitpid(child.pid, &raw, WNOHANG) == child.pid { status = ExitStatus(raw: raw) }
            return status != nil
        }
        return status
    }

    /// Sends `signal` and waits for the exit.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> ExitStatus? {
        if status == nil { child.signal(signal) }
        return waitForExit()
    }
}

extension BrokerProcess {
    /// Whether a `get` of `name` on `project`'s socket answers exactly `expected` (a scalar).
    func secret(_ name: String, of project: String, equals expected: String) -> Bool {
        guard let connection = try? BrokerConnection(path: projectSocket(project), timeoutSeconds: 5),
              var reply = try? connection.request(op: "get", [("name", name)])
        else { return false }
        defer { reply.zeroize() }
        return reply.ok && reply.string("value") == expected
    }

    /// `secret_count` from `status`, nil when the broker does not answer.
    func secretCount() -> Int? {
        guard let connection = try? admin(), let reply = try? connection.request(op: "status"), reply.ok else { return nil }
        return reply.int("secret_count")
    }

    /// `push-creds` of a JSON object given as text (bundles included; newlines dropped, as
    /// one request is one line).
    func pushJSON(_ secretsObject: String) throws {
        let object = secretsObject.filter { $0 != "\n" }
        let reply = try admin().request(Array("{\"op\":\"push-creds\",\"secrets\":\(object)}".utf8))
        guard reply.ok else { throw HarnessError("push failed: \(reply.code ?? "?")") }
    }
}

/// Filesystems by kind: memory-backed (tmpfs/ramfs) or not.
enum FilesystemKind {
    static func isMemoryBacked(_ path: String) -> Bool {
        let type = remo_filesystem_type(path)
        return type == 0x0102_1994 || type == 0x8584_58F6
    }

    /// A writable directory on a disk-backed filesystem (/tmp here unless it is tmpfs), or nil.
    static let diskDirectory: String? = {
        for candidate in ["/tmp", "/var/tmp", FileSystem.currentDirectory()]
        where FileSystem.isDirectory(candidate) && !isMemoryBacked(candidate) && access(candidate, W_OK) == 0 {
            return candidate
        }
        return nil
    }()

    /// A memory-backed directory for secret files (/dev/shm).
    static let memoryDirectory: String? = {
        for candidate in ["/dev/shm", "/run/user/\(getuid())"]
        where FileSystem.isDirectory(candidate) && isMemoryBacked(candidate) && access(candidate, W_OK) == 0 {
            return candidate
        }
        return nil
    }()
}

/// Octal permission bits of `path` (no file type), nil when it does not exist.
func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}
