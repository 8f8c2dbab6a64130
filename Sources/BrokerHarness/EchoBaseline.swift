import BrokerCore
import Glibc

/// The C epoll echo server (ci/baseline/echo.c) as a child process, for the same-run
/// baseline LatencyBench compares the broker with.
public final class EchoBaseline {
    public let socketPath: String
    public let pid: pid_t
    private var child: ChildProcess?

    /// The path `make baseline` builds to.
    public static let defaultBinary = ".build/echo-baseline"

    public init(binary: String, socketPath: String) throws {
        self.socketPath = socketPath
        let child = try ChildProcess(binary, [socketPath], stdout: .null, stderr: .inherit)
        self.child = child
        pid = child.pid
        let ready = Poll.until(timeoutSeconds: 5) {
            guard let fd = try? UnixSocket.connect(to: socketPath) else { return false }
            close(fd)
            return true
        }
        guard ready else { throw HarnessError("echo baseline did not listen on \(socketPath)") }
    }

    deinit {
        guard let child else { return }
        child.signal(SIGKILL)
        _ = try? child.wait()
    }
}
