import CSeccomp

/// epoll with a 64-bit token per registered fd.
public final class Epoll {
    public let fd: Int32
    private var events: [epoll_event]

    public init(maxEvents: Int = 256) throws(SystemError) {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SystemError("epoll_create1") }
        events = Array(repeating: epoll_event(), count: maxEvents)
    }

    deinit { close(fd) }

    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Interest(rawValue: EPOLLIN.rawValue)
        public static let writable = Interest(rawValue: EPOLLOUT.rawValue)
    }

    public func add(_ target: Int32, token: UInt64, interest: Interest) throws(SystemError) {
        try control(EPOLL_CTL_ADD, target, token: token, interest: interest)
    }

    public func modify(_ target: Int32, token: UInt64, interest: Interest) throws(SystemError) {
        try control(EPOLL_CTL_MOD, target, token: token, interest: interest)
    }

    /// Closing an fd removes it from epoll too; this is for fds that stay open.
    public func remove(_ target: Int32) {
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, target, nil)
    }

    private func control(_ op: Int32, _ target: Int32, token: UInt64, interest: Interest) throws(SystemError) {
        var event = epoll_event()
        // Peer half-close is only interesting while reading; watched without EPOLLIN it
        // would keep firing (level-triggered) for a connection paused on output.
        event.events = interest.rawValue | (interest.contains(.readable) ? EPOLLRDHUP.rawValue : 0)
        event.data.u64 = token
        guard epoll_ctl(fd, op, target, &event) == 0 else { throw SystemError("epoll_ctl") }
    }

    public struct Event {
        public let token: UInt64
        public let readable: Bool
        public let writable: Bool
        /// Error or hang-up: the peer is gone (reading may still drain buffered bytes).
        public let hangup: Bool
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and calls `body` for each event.
    public func wait(timeoutMilliseconds: Int32, _ body: (Event) -> Void) throws(SystemError) {
        let count = events.withUnsafeMutableBufferPointer { epoll_wait(fd, $0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if count < 0 {
            if errno == EINTR { return }
            throw SystemError("epoll_wait")
        }
        for index in 0..<Int(count) {
            let event = events[index]
            let flags = event.events
            body(Event(token: event.data.u64,
                       readable: flags & EPOLLIN.rawValue != 0,
                       writable: flags & EPOLLOUT.rawValue != 0,
                       hangup: flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0))
        }
    }
}
