import CSeccomp

/// The other end of a Unix socket, as the kernel reports it (SO_PEERCRED) at connect time.
public struct PeerCredentials: Equatable, Sendable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// SO_PEERCRED of a connected AF_UNIX socket.
    public static func of(socket fd: Int32) throws(SystemError) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard remo_peer_credentials(fd, &pid, &uid, &gid) == 0 else {
            throw SystemError("getsockopt(SO_PEERCRED)")
        }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }
}
