import BrokerCore
import Glibc

/// systemd's side of `LoadCredential=ID:/path/to/socket`, as systemd 252 does it: bind the
/// client socket to the abstract address `\0<16 hex>/unit/<unit>/<ID>`, connect, read until
/// EOF. Tests and the `CredentialProbe` harness use it to stand in for PID 1.
public enum SystemdCredentialClient {
    public enum Outcome: Equatable {
        /// Connected; what arrived before EOF (empty: the broker closed without writing).
        case received([UInt8])
        /// connect(2) failed with this errno (EACCES for a 0600 socket of another user).
        case connectFailed(Int32)
    }

    /// `unit` nil: connect without binding an address first (what any other client does).
    public static func load(socket path: String, unit: String?, id: String, timeoutSeconds: Int = 10) throws(SystemError) -> Outcome {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let unit {
            let random = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let name = String(repeating: "0", count: 16 - random.count) + random + "/unit/\(unit)/\(id)"
            let bound = try UnixSocket.withAddress([0] + Array(name.utf8)) { bind(fd, $0, $1) }
            guard bound == 0 else { throw SystemError("bind", subject: "abstract \(name)") }
        }
        let connected = try UnixSocket.withAddress(path) { connect(fd, $0, $1) }
        if connected != 0 { return .connectFailed(errno) }
        shutdown(fd, Int32(SHUT_WR))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return .received(received) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return .received(received) }
                throw SystemError("recv (no EOF within \(timeoutSeconds) s?)", subject: path)
            }
            received += buffer[0..<count]
        }
    }
}
