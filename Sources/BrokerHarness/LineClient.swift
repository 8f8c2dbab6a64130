import BrokerCore
import CSeccomp
import Glibc

/// The client LatencyBench uses for the broker and for the C echo baseline alike: a blocking
/// AF_UNIX connection that writes one request line and reads one reply line with plain
/// write(2)/read(2) into a preallocated buffer — nothing in the timed loop allocates or
/// parses, so both servers are measured through exactly the same code.
public final class LineClient {
    public let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    /// Bytes of the last reply (including its "\n") at the start of `buffer`.
    public private(set) var replyLength = 0

    public init(path: String, bufferBytes: Int = 1 << 20) throws(SystemError) {
        fd = try UnixSocket.connect(to: path)
        buffer = .allocate(byteCount: bufferBytes, alignment: 16)
    }

    deinit {
        // The buffer held secret values: zero it before giving it back.
        memset(buffer.baseAddress!, 0, buffer.count)
        buffer.deallocate()
        close(fd)
    }

    /// Sends `request` (one line ending in "\n") and reads the one reply line.
    public func roundTrip(_ request: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < request.count {
            let sent = Glibc.write(fd, request.baseAddress! + offset, request.count - offset)
            if sent > 0 { offset += sent; continue }
            if sent < 0 && errno == EINTR { continue }
            throw SystemError("write", errno: sent == 0 ? EPIPE : errno)
        }
        var received = 0
        while true {
            let count = Glibc.read(fd, buffer.baseAddress! + received, buffer.count - received)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SystemError("read", errno: count == 0 ? ECONNRESET : errno) }
            let scanFrom = received
            received += count
            if memchr(buffer.baseAddress!.advanced(by: scanFrom), 0x0A, count) != nil { break }
            guard received < buffer.count else { throw SystemError("read", errno: EMSGSIZE) }
        }
        replyLength = received
    }

    public func roundTrip(_ request: [UInt8]) throws(SystemError) {
        let result = request.withUnsafeBytes { raw in Result { () throws(SystemError) in try roundTrip(raw) } }
        try result.get()
    }

    /// Whether the last reply starts with `prefix` (e.g. `{"ok":true`), without copying it.
    public func replyStarts(with prefix: [UInt8]) -> Bool {
        guard replyLength >= prefix.count else { return false }
        return prefix.withUnsafeBytes { memcmp(buffer.baseAddress!, $0.baseAddress!, prefix.count) == 0 }
    }

    /// The last reply as a parsed tree (for one-off correctness checks outside timed loops).
    public func lastReply() -> JSONTree? {
        let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<max(0, replyLength - 1)]))
        return try? JSONTree(parsing: bytes)
    }

    /// `warmup` untimed round trips, then `count` timed ones; replies not starting with
    /// `expect` are counted in `mismatches`.
    public func measure(_ request: [UInt8], warmup: Int, count: Int, expect: [UInt8]) throws(SystemError) -> (samples: LatencySamples, mismatches: Int) {
        var samples = LatencySamples(capacity: count)
        var mismatches = 0
        let outcome = request.withUnsafeBytes { raw in
            Result { () throws(SystemError) in
                for _ in 0..<warmup { try roundTrip(raw) }
                for _ in 0..<count {
                    let start = Monotonic.nanoseconds()
                    try roundTrip(raw)
                    samples.record(Monotonic.nanoseconds() - start)
                    if !replyStarts(with: expect) { mismatches += 1 }
                }
            }
        }
        try outcome.get()
        return (samples, mismatches)
    }
}

/// Closed-loop throughput: `connections` non-blocking clients on one epoll thread, each
/// keeping `depth` requests in flight, for `seconds`. One client thread is far cheaper than
/// 50 blocking threads, so on 2 cores the figure is the server's, not the client's.
public enum ThroughputDriver {
    public struct Result: Sendable {
        public let replies: Int
        public let mismatches: Int
        public let seconds: Double
        public var perSecond: Double { Double(replies) / seconds }
    }

    public static func run(path: String, request: [UInt8], expect: [UInt8], connections: Int, depth: Int = 1,
                           warmupSeconds: Double = 0.5, seconds: Double) throws(SystemError) -> Result {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemError("epoll_create1") }
        defer { close(epoll) }
        var fds: [Int32] = []
        defer { fds.forEach { close($0) } }
        for index in 0..<connections {
            let fd = try UnixSocket.connect(to: path)
            fds.append(fd)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(index)))
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else { throw SystemError("epoll_ctl") }
        }
        var burst: [UInt8] = []
        for _ in 0..<depth { burst += request }
        for fd in fds { try sendAll(fd, burst) }

        var partial = [Int](repeating: 0, count: connections)   // bytes of an unfinished reply
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        let start = Monotonic.nanoseconds()
        let measureFrom = start + UInt64(warmupSeconds * 1e9)
        let end = measureFrom + UInt64(seconds * 1e9)
        var replies = 0, mismatches = 0
        while true {
            let now = Monotonic.nanoseconds()
            if now >= end { break }
            let ready = epoll_wait(epoll, &events, Int32(events.count), 100)
            if ready < 0 && errno != EINTR { throw SystemError("epoll_wait") }
            let counting = Monotonic.nanoseconds() >= measureFrom
            for event in events.prefix(max(0, Int(ready))) {
                let index = Int(event.data.u64)
                let fd = fds[index]
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                guard count > 0 else { throw SystemError("read", errno: count == 0 ? ECONNRESET : errno) }
                var complete = 0
                var lineStart = -partial[index]   // negative: the reply began in an earlier read
                for position in 0..<count where chunk[position] == 0x0A {
                    if counting, lineStart >= 0, !chunk[lineStart..<position].starts(with: expect) { mismatches += 1 }
                    lineStart = position + 1
                    complete += 1
                }
                partial[index] = count - lineStart
                if counting { replies += complete }
                if complete > 0 {
                    var again: [UInt8] = []
                    for _ in 0..<complete { again += request }
                    try sendAll(fd, again)
                }
            }
        }
        return Result(replies: replies, mismatches: mismatches, seconds: seconds)
    }

    /// Writes all of `bytes` to a non-blocking socket (waiting with poll when it is full).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent > 0 { offset += sent; continue }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && errno == EAGAIN {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&poller, 1, 1000)
                continue
            }
            throw SystemError("send", errno: errno)
        }
    }
}
