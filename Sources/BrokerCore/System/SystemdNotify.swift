import CSeccomp

/// sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET ("@" = abstract namespace).
public enum SystemdNotify {
    /// Sends `state` (e.g. "READY=1") if NOTIFY_SOCKET is set; false if it is set but the
    /// send failed.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let raw = getenv("NOTIFY_SOCKET") else { return true }
        var path = Array(String(cString: raw).utf8)
        guard !path.isEmpty, path.count <= UnixSocket.maxPathBytes else { return false }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = try? UnixSocket.withAddress(path) { address, length in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
        }
        return (sent ?? -1) >= 0
    }
}
