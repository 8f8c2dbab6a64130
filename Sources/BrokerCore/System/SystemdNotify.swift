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
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Array(state.utf8).withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        return sent >= 0
    }
}
