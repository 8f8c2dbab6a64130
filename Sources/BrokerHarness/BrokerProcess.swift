import BrokerClient
import BrokerCore
import Glibc

/// A `remo-broker serve` child on private temp directories, for tests and harnesses.
public final class BrokerProcess {
    public let binary: String
    public let root: TempDirectory
    public let socketDir: String
    public let stateDir: String
    public let auditLogPath: String
    public let stderrPath: String
    public let extraArguments: [String]
    public private(set) var child: ChildProcess?

    public var adminSocket: String { socketDir + "/admin.sock" }
    public func projectSocket(_ name: String) -> String { socketDir + "/projects/\(name)/sock" }
    public var pid: pid_t? { child?.pid }

    /// Prepares directories; `start()` launches. `arguments` are extra `serve` options.
    public init(binary: String, arguments: [String] = [], root: TempDirectory? = nil) throws {
        self.binary = binary
        self.root = try root ?? TempDirectory(prefix: "rb")
        socketDir = self.root.file("run")
        stateDir = self.root.file("state")
        auditLogPath = self.root.file("log/audit.log")
        stderrPath = self.root.file("broker.stderr")
        extraArguments = arguments
        if !FileSystem.exists(self.root.file("empty-config.toml")) { _ = try self.root.write("empty-config.toml", "") }
    }

    deinit {
        if let child, kill(child.pid, 0) == 0 {
            child.signal(SIGKILL)
            _ = try? child.wait()
        }
    }

    /// Without a `--config` of the caller's, an empty one: a broker under test never reads the
    /// host's /etc/remo-broker/config.toml (tests run as root, where that is the default).
    public var serveArguments: [String] {
        let config = extraArguments.contains("--config") ? [] : ["--config", root.file("empty-config.toml")]
        return ["serve", "--socket-dir", socketDir, "--state-dir", stateDir, "--audit-log-path", auditLogPath] + config + extraArguments
    }

    /// Starts the broker and waits until its admin socket answers `status`, trying every
    /// `pollMicroseconds` (LatencyBench polls finely to time the start-up).
    public func start(timeoutSeconds: Double = 10, pollMicroseconds: UInt32 = 5_000) throws {
        precondition(child == nil, "already running")
        child = try ChildProcess(binary, serveArguments, stderr: .file(stderrPath))
        try waitUntilServing(timeoutSeconds: timeoutSeconds, pollMicroseconds: pollMicroseconds)
    }

    public func waitUntilServing(timeoutSeconds: Double, pollMicroseconds: UInt32 = 5_000) throws {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while Monotonic.nanoseconds() < deadline {
            if let connection = try? BrokerConnection(path: adminSocket, timeoutSeconds: 2),
               let reply = try? connection.request(op: "status"), reply.ok {
                return
            }
            if let child, let status = Self.exited(child.pid) {
                throw HarnessError("broker exited during start-up (\(status)): \(stderrText)")
            }
            usleep(pollMicroseconds)
        }
        throw HarnessError("broker did not answer status within \(timeoutSeconds) s: \(stderrText)")
    }

    /// Non-blocking check: the exit status if the child has ended.
    static func exited(_ pid: pid_t) -> ExitStatus? {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid ? ExitStatus(raw: status) : nil
    }

    /// Sends `signal` and waits for the exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) throws -> ExitStatus {
        guard let child else { throw HarnessError("broker not running") }
        child.signal(signal)
        let status = try child.wait()
        self.child = nil
        return status
    }

    /// Waits for an exit that something else caused (e.g. a seccomp kill).
    public func waitForExit() throws -> ExitStatus {
        guard let child else { throw HarnessError("broker not running") }
        let status = try child.wait()
        self.child = nil
        return status
    }

    public var stderrText: String {
        (try? FileSystem.readFile(stderrPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    // MARK: admin helpers

    public func admin() throws -> BrokerConnection { try BrokerConnection(path: adminSocket) }

    /// Creates `<root>/projects/<name>` with a manifest allowing `secrets` (env bindings)
    /// and registers it. Returns the project socket path.
    @discardableResult
    public func registerProject(_ name: String, secrets: [String], manifest: String? = nil) throws -> String {
        let projectPath = try ProjectFixture.create(in: root, name: name, secrets: secrets, manifest: manifest)
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", "register")
        writer.field("name", name)
        writer.field("project_path", projectPath)
        writer.endObject()
        let reply = try admin().request(writer)
        guard reply.ok else { throw HarnessError("register \(name) failed: \(reply.text)") }
        return projectSocket(name)
    }

    /// Pushes `secrets` (scalars only) and checks the reply.
    public func push(_ secrets: [(String, String)]) throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", "push-creds")
        writer.key("secrets")
        writer.beginObject()
        for (name, value) in secrets { writer.field(name, value) }
        writer.endObject()
        writer.endObject()
        let reply = try admin().request(writer)
        guard reply.ok else { throw HarnessError("push failed: \(reply.code ?? "?")") }
    }

    /// Every line of the audit log (the writer is asynchronous: poll with `waitForAudit`).
    public func auditLines() -> [String] {
        AuditFile.lines(auditLogPath)
    }

    /// Polls the audit log until `predicate` holds for its lines (or the timeout passes).
    @discardableResult
    public func waitForAudit(timeoutSeconds: Double = 5, _ predicate: ([String]) -> Bool) -> [String] {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        var lines = auditLines()
        while !predicate(lines), Monotonic.nanoseconds() < deadline {
            usleep(10_000)
            lines = auditLines()
        }
        return lines
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Project directories with manifests.
public enum ProjectFixture {
    /// `<root>/projects/<name>/.remo/manifest.toml`; returns the project path.
    public static func create(in root: TempDirectory, name: String, secrets: [String], manifest: String? = nil) throws -> String {
        let text = manifest ?? defaultManifest(name: name, secrets: secrets)
        try root.write("projects/\(name)/.remo/manifest.toml", text)
        return root.file("projects/\(name)")
    }

    public static func defaultManifest(name: String, secrets: [String]) -> String {
        var text = "schema_version = 1\nproject = \"\(name)\"\n"
        for secret in secrets { text += "\n[secrets.\(secret)]\n" }
        return text
    }
}

/// Reading the audit log.
public enum AuditFile {
    public static func lines(_ path: String) -> [String] {
        guard let bytes = try? FileSystem.readFile(path, maxBytes: 1 << 30) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The `event` of each line that parses.
    public static func events(_ lines: [String]) -> [String] {
        lines.compactMap { line in
            guard let document = try? JSONDocument(parsing: line), case .string(let span)? = document["event"] else { return nil }
            return document.string(span)
        }
    }
}
