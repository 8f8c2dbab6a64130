import BrokerClient
import BrokerCore
import Glibc

/// Raw-socket helpers over `BrokerConnection` for tests and harnesses: JSON text requests,
/// writes that must not block, and watching for the broker closing the connection.
extension BrokerConnection {
    /// Sends `json` (one request line) and waits for its reply.
    public func request(json: String) throws(Failure) -> Reply {
        try request(Array(json.utf8))
    }

    /// Sends `text` exactly as given (no newline is added unless it is missing at the end).
    public func send(text: String) throws(Failure) {
        try send(Array(text.utf8))
    }

    /// Reads `count` replies in order.
    public func receive(count: Int) throws(Failure) -> [Reply] {
        var replies: [Reply] = []
        replies.reserveCapacity(count)
        for _ in 0..<count { replies.append(try receive()) }
        return replies
    }

    /// Writes as much of `bytes` as the socket takes right now (MSG_DONTWAIT); returns the
    /// number of bytes written. For clients that must not block on a broker that stopped
    /// reading them.
    public func sendWithoutBlocking(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if count > 0 {
                offset += count
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return offset
    }

    /// What `waitForClose` saw.
    public enum CloseObservation: Equatable, Sendable {
        /// The broker closed the connection (EOF or reset); `discardedBytes` arrived before.
        case closed(discardedBytes: Int)
        /// Still open when the timeout passed.
        case stillOpen
    }

    /// Reads (and discards) whatever arrives until the broker closes the connection or
    /// `timeoutSeconds` pass. Bytes already buffered by `receive` are not looked at.
    public func waitForClose(timeoutSeconds: Double) -> CloseObservation {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        var discarded = 0
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let now = Monotonic.nanoseconds()
            guard now < deadline else { return .stillOpen }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            if ready <= 0 { continue }
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                discarded += count
            } else if count == 0 || errno == ECONNRESET {
                return .closed(discardedBytes: discarded)
            }
        }
    }

    /// True when nothing arrives and the connection stays open for `seconds`.
    public func staysQuiet(forSeconds seconds: Double) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, Int32(seconds * 1000)) == 0
    }
}
