import BrokerCore
import CSeccomp

/// How client commands find the broker (SPEC §8).
public enum SocketPaths {
    /// `--socket-dir`, then $REMO_BROKER_SOCKET_DIR, then the default socket dir.
    public static func adminSocket(socketDir: String?) -> String {
        let dir = socketDir ?? environment("REMO_BROKER_SOCKET_DIR") ?? DefaultPaths(.current).socketDir
        return dir + "/admin.sock"
    }

    /// `--socket`, then $REMO_BROKER_SOCKET, then the in-container default.
    public static func projectSocket(socket: String?) -> String {
        socket ?? environment("REMO_BROKER_SOCKET") ?? "/run/remo-broker/sock"
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name), value.pointee != 0 else { return nil }
        return String(cString: value)
    }
}
