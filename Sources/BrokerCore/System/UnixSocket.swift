import CSeccomp

/// AF_UNIX stream sockets: the only kind the broker opens.
public enum UnixSocket {
    /// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    public static let maxPathBytes = 107

    /// Fills a sockaddr_un for `path`; fails with ENAMETOOLONG when it does not fit.
    public static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(SystemError) -> R {
        try withAddress(Array(path.utf8), body)
    }

    /// Fills a sockaddr_un for `address`: a filesystem path (NUL-terminated here), or, when
    /// its first byte is NUL, an abstract name, whose length is exactly its bytes (sd_notify's
    /// `@` sockets, systemd's `LoadCredential=` client). ENAMETOOLONG when it does not fit.
    public static func withAddress<R>(_ address: [UInt8], _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(SystemError) -> R {
        let abstract = address.first == 0
        guard !address.isEmpty, address.count <= maxPathBytes + (abstract ? 1 : 0) else {
            throw SystemError("socket path", errno: ENAMETOOLONG, subject: String(decoding: address.dropFirst(abstract ? 1 : 0), as: UTF8.self))
        }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: address)
            if !abstract { raw[address.count] = 0 }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (abstract ? 0 : 1))
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// A new non-blocking, close-on-exec listening socket bound to `path` with `mode`.
    /// A socket file left at `path` by an earlier run is removed first (`removeStaleSocket`);
    /// any other kind of file is an error.
    public static func listen(at path: String, mode: mode_t, backlog: Int32 = 128) throws(SystemError) -> Int32 {
        try removeStaleSocket(path)
        let fd = try retryingEINTR("socket", subject: path) {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            let bound = try withAddress(path) { bind(fd, $0, $1) }
            guard bound == 0 else { throw SystemError("bind", subject: path) }
            guard chmod(path, mode) == 0 else { throw SystemError("chmod", subject: path) }
            guard Libc.listen(fd, backlog) == 0 else { throw SystemError("listen", subject: path) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Unlinks a socket file this process's uid owns at `path`; nothing there is fine.
    /// Never probes it with `connect`: that is not in the seccomp allowlist, and `register`
    /// reaches this on a project socket an earlier run left behind (SPEC §13). The paths it
    /// is used on live in directories only the broker can write, so a socket there is the
    /// broker's own. Another kind of file, or a socket of another uid, is an error.
    public static func removeStaleSocket(_ path: String) throws(SystemError) {
        let status: FileStatus
        do {
            status = try FileStatus.of(path)
        } catch {
            if error.errno == ENOENT { return }
            throw error
        }
        guard status.kind == .socket else {
            throw SystemError("refusing to replace a non-socket file", errno: EEXIST, subject: path)
        }
        guard status.uid == geteuid() || geteuid() == 0 else {
            throw SystemError("refusing to replace a socket owned by uid \(status.uid)", errno: EPERM, subject: path)
        }
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError("unlink", subject: path) }
    }

    /// Whether something accepts connections at `path` (a probe with `connect`). Only for
    /// start-up, before the seccomp filter: a second broker must not steal a live admin socket.
    public static func isServed(_ path: String) -> Bool {
        guard let live = try? connect(to: path) else { return false }
        close(live)
        return true
    }

    /// Accepts one connection (non-blocking, close-on-exec). nil when none is pending.
    public static func accept(_ listener: Int32) throws(SystemError) -> Int32? {
        while true {
            let fd = remo_accept_nonblocking(listener)
            if fd >= 0 { return fd }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            // The peer went away before we accepted: not our failure.
            case ECONNABORTED, EPROTO: continue
            default: throw SystemError("accept4")
            }
        }
    }

    /// `accept`, also returning the peer's bound address (`sun_path` bytes, empty for an
    /// unbound peer): what getpeername would say, from the same accept4 call.
    public static func acceptWithPeerPath(_ listener: Int32) throws(SystemError) -> (fd: Int32, peerPath: [UInt8])? {
        var path = [UInt8](repeating: 0, count: 108)
        while true {
            var length = UInt32(path.count)
            let fd = remo_accept_with_peer_path(listener, &path, &length)
            if fd >= 0 { return (fd, Array(path[0..<Int(length)])) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case ECONNABORTED, EPROTO: continue
            default: throw SystemError("accept4")
            }
        }
    }

    /// A blocking connection to `path` (clients).
    public static func connect(to path: String) throws(SystemError) -> Int32 {
        let fd = try retryingEINTR("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let result = try withAddress(path) { Libc.connect(fd, $0, $1) }
        guard result == 0 else {
            let error = SystemError("connect", subject: path)
            close(fd)
            throw error
        }
        return fd
    }

    public enum IOResult: Equatable {
        case transferred(Int)
        case wouldBlock
        case closed
    }

    /// recv into `buffer`; `.closed` on orderly shutdown.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(SystemError) -> IOResult {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return .transferred(count) }
            if count == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case ECONNRESET: return .closed
            default: throw SystemError("recv")
            }
        }
    }

    /// send without SIGPIPE.
    public static func send(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) throws(SystemError) -> IOResult {
        while true {
            let count = Libc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EPIPE, ECONNRESET: return .closed
            default: throw SystemError("send")
            }
        }
    }
}
