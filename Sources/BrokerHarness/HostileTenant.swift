import BrokerClient
import BrokerCore
import Glibc
import Synchronization

/// The attacks of SPEC §13 / issue 12 as reusable drivers, shared by the integration tests
/// and Soak's HostileTenant scenario. Each runs until `stop()` and counts what it sent.
public final class SocketFlood: @unchecked Sendable {
    public enum Payload: Sendable {
        /// 1 MiB writes of `\n` (row 2): empty lines get no reply, so nothing paused the reader.
        case emptyLines
        /// Lines that are not JSON (row 4): each one a `protocol_error` and a `request.invalid`.
        case invalidLines
    }

    private let stopping = Atomic<Bool>(false)
    private let sentBytes = Atomic<Int>(0)
    private var threads: [BackgroundThread] = []
    private var connections: [BrokerConnection] = []

    /// `connections` flooding connections to `path`, one thread each.
    public init(path: String, connections count: Int, payload: Payload) throws {
        let chunk: [UInt8]
        switch payload {
        case .emptyLines: chunk = [UInt8](repeating: 0x0A, count: 1 << 20)
        case .invalidLines: chunk = Array(String(repeating: "not json\n", count: 4096).utf8)
        }
        for _ in 0..<count {
            let connection = try BrokerConnection(path: path, timeoutSeconds: 1)
            connections.append(connection)
            let fd = connection.fd
            threads.append(try BackgroundThread { [self] in self.flood(fd, chunk) })
        }
    }

    deinit { stop() }

    /// Bytes written so far, across all connections.
    public var bytesSent: Int { sentBytes.load(ordering: .relaxed) }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
        for thread in threads { thread.join() }
        threads = []
        connections = []
    }

    /// Writes `chunk` for as long as the broker takes it, reading and discarding replies so
    /// that the flood is never throttled by its own unread output.
    private func flood(_ fd: Int32, _ chunk: [UInt8]) {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopping.load(ordering: .relaxed) {
            let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if sent > 0 { sentBytes.add(sent, ordering: .relaxed) }
            let read = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if read == 0 { return }  // closed by the broker
            if sent <= 0 && read < 0 {
                var poller = pollfd(fd: fd, events: Int16(POLLIN | POLLOUT), revents: 0)
                _ = poll(&poller, 1, 50)
            }
        }
    }
}

/// Row 5: a local user outside the project's `allowed_uids` (but able to reach the socket)
/// holding `count` connections open. A forked child switches to `uid`/`gid`, connects, sends
/// a request on each (none may be read), reports how many connected, and waits to be killed.
public final class StrangerConnections {
    public let pid: pid_t
    public let connected: Int

    public init(path: String, count: Int, uid: UInt32, gid: UInt32) throws {
        // Everything the child uses is prepared before fork: afterwards it makes syscalls only.
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let request = Array("{\"op\":\"get\",\"name\":\"a\"}\n".utf8)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SystemError("pipe") }
        let child = fork()
        guard child >= 0 else { throw SystemError("fork") }
        if child == 0 {
            close(pipeFDs[0])
            if setgroups(0, nil) != 0 || setgid(gid) != 0 || setuid(uid) != 0 { _exit(70) }
            var opened: Int32 = 0
            for _ in 0..<count {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                guard fd >= 0, result == 0 else { break }
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                opened += 1
            }
            _ = withUnsafeBytes(of: &opened) { write(pipeFDs[1], $0.baseAddress, $0.count) }
            while true { pause() }
        }
        close(pipeFDs[1])
        var opened: Int32 = 0
        let read = withUnsafeMutableBytes(of: &opened) { Glibc.read(pipeFDs[0], $0.baseAddress, $0.count) }
        close(pipeFDs[0])
        pid = child
        connected = read == MemoryLayout<Int32>.size ? Int(opened) : 0
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// A victim's round trips timed while an attack runs: every request must be answered.
public struct VictimProbe {
    public private(set) var samples = LatencySamples()
    public private(set) var failures: [String] = []

    public init() {}

    /// Sends `request` on `connection` and records how long the reply took; a reply that
    /// fails `check` (or none) is a failure.
    public mutating func time(_ what: String, on connection: BrokerConnection, _ request: [UInt8], check: (Reply) -> Bool) {
        let started = Monotonic.nanoseconds()
        do {
            var reply = try connection.request(request)
            samples.record(Monotonic.nanoseconds() - started)
            if !check(reply) { failures.append("\(what): \(reply.code ?? "unexpected reply")") }
            reply.zeroize()
        } catch {
            failures.append("\(what): \(error)")
        }
    }
}
