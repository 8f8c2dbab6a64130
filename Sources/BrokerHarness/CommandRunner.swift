import BrokerCore
import Glibc

/// Runs a command to completion with extra environment variables, standard input from a
/// file, or under another uid/gid (via setpriv, when running as root), and a deadline: a
/// command still running when it passes is killed (SIGKILL) and reported as timed out.
public enum CommandRunner {
    public struct Result: CustomStringConvertible {
        public let status: ExitStatus
        public let stdout: [UInt8]
        public let stderr: [UInt8]
        /// The deadline passed and the command was killed.
        public let timedOut: Bool

        public var exitCode: Int32? { status.exitCode }
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }

        /// Status and both outputs, with test secret values redacted.
        public var description: String {
            "\(timedOut ? "timed out, " : "")\(status); stdout: \(SecretMarker.redacted(stdoutText)); "
                + "stderr: \(SecretMarker.redacted(stderrText))"
        }
    }

    /// A uid/gid to run as; the supplementary groups are cleared.
    public struct Identity: Sendable {
        public let uid: UInt32
        public let gid: UInt32
        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
    }

    public static let setpriv = "/usr/bin/setpriv"

    /// Runs `path arguments...`. `environment` entries are added to (or replace those of)
    /// this process's environment; `stdinFile` becomes standard input (else /dev/null).
    public static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                           stdinFile: String? = nil, as identity: Identity? = nil,
                           timeoutSeconds: Double = 30) throws(SystemError) -> Result {
        var command = [path] + arguments
        if let identity {
            command = [setpriv, "--reuid=\(identity.uid)", "--regid=\(identity.gid)", "--clear-groups", "--"] + command
        }
        if let stdinFile {
            // sh -c 'exec "$@" < "$0"' FILE COMMAND...
            command = ["/bin/sh", "-c", "exec \"$@\" < \"$0\"", stdinFile] + command
        }
        let child = try ChildProcess(command[0], Array(command.dropFirst()),
                                     environment: environment.isEmpty ? nil : mergedEnvironment(environment),
                                     stdout: .pipe, stderr: .pipe)
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        var out: [UInt8] = [], err: [UInt8] = []
        var open: [(fd: Int32, isStdout: Bool)] = [(child.stdoutPipe!, true), (child.stderrPipe!, false)]
        var chunk = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        while !open.isEmpty {
            let now = Monotonic.nanoseconds()
            if now >= deadline {
                timedOut = true
                child.signal(SIGKILL)
                open.forEach { close($0.fd) }
                break
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            var still: [(fd: Int32, isStdout: Bool)] = []
            for (index, entry) in open.enumerated() {
                if fds[index].revents == 0 { still.append(entry); continue }
                let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.isStdout { out += chunk[0..<count] } else { err += chunk[0..<count] }
                    still.append(entry)
                } else if count < 0 && errno == EINTR {
                    still.append(entry)
                } else {
                    close(entry.fd)
                }
            }
            open = still
        }
        return Result(status: try child.wait(), stdout: out, stderr: err, timedOut: timedOut)
    }

    /// This process's environment with `overrides` applied, as `NAME=value` strings.
    public static func mergedEnvironment(_ overrides: [String: String]) -> [String] {
        var entries: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if overrides[name] == nil { entries.append(text) }
            index += 1
        }
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) { entries.append("\(name)=\(value)") }
        return entries
    }
}
