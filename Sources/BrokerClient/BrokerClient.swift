import BrokerCore
import CSeccomp

/// A blocking client for either socket: one request line out, one reply line back.
/// Used by the CLI, the harnesses and the tests.
public final class BrokerConnection {
    public let path: String
    public let fd: Int32
    private let input = SecureBuffer(capacity: 4096)

    public enum Failure: Error, CustomStringConvertible {
        case connect(SystemError)
        case io(SystemError)
        case closed
        case badReply(String)
        /// The admin socket's directory belongs to someone else (SPEC §13).
        case untrusted(SocketDirectory.Untrusted)

        public var description: String {
            switch self {
            case .untrusted(let error): return "untrusted socket directory: \(error)"
            case .connect(let error): return "cannot connect: \(error)"
            case .io(let error): return "\(error)"
            case .closed: return "the broker closed the connection"
            case .badReply(let detail): return "unreadable reply from the broker: \(detail)"
            }
        }
    }

    /// Connects to `path`; replies wait at most `timeoutSeconds`.
    public init(path: String, timeoutSeconds: Int = 30) throws(Failure) {
        self.path = path
        do {
            fd = try UnixSocket.connect(to: path)
        } catch {
            throw .connect(error)
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// A connection to the admin socket at `path`, made only when its directory belongs to
    /// root or to this user: `push` and `watch` must never hand secrets to a socket another
    /// local user put there.
    public static func admin(path: String, timeoutSeconds: Int = 30) throws(Failure) -> BrokerConnection {
        do {
            try SocketDirectory.trusts(adminSocket: path)
        } catch {
            throw .untrusted(error)
        }
        return try BrokerConnection(path: path, timeoutSeconds: timeoutSeconds)
    }

    /// Sends `line` (a newline is appended when missing).
    public func send(_ line: [UInt8]) throws(Failure) {
        try sendRaw(line)
        if line.last != 0x0A { try sendRaw([0x0A]) }
    }

    /// Writes all of `bytes` exactly as given, blocking as needed (up to the send timeout).
    public func sendRaw(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBufferPointer { buffer in
                Result { () throws(SystemError) in try UnixSocket.send(fd, UnsafeBufferPointer(rebasing: buffer[offset...])) }
            }
            switch result {
            case .success(.transferred(let count)): offset += count
            case .success(.closed): throw .closed
            case .success(.wouldBlock): throw .io(SystemError("send", errno: EAGAIN))
            case .failure(let error): throw .io(error)
            }
        }
    }

    public func send(_ writer: JSONWriter) throws(Failure) { try send(writer.bytes) }

    /// Reads one reply line (without the newline).
    public func receiveLine(limit: Int = 64 << 20) throws(Failure) -> [UInt8] {
        var scanned = 0
        while true {
            let pending = input.readable
            if let newline = pending[scanned...].firstIndex(of: 0x0A) {
                let line = Array(pending[0..<newline])
                input.consume(newline + 1)
                return line
            }
            scanned = pending.count
            guard pending.count <= limit else { throw .badReply("reply longer than \(limit) bytes") }
            let region = input.reserve(64 * 1024)
            let result: UnixSocket.IOResult
            do {
                result = try UnixSocket.receive(fd, into: region)
            } catch {
                throw .io(error)
            }
            switch result {
            case .transferred(let count): input.commit(count)
            case .closed: throw .closed
            case .wouldBlock: throw .io(SystemError("recv", errno: ETIMEDOUT, subject: "waiting for a reply"))
            }
        }
    }

    /// Reads one reply and parses it.
    public func receive() throws(Failure) -> Reply {
        let line = try receiveLine()
        do {
            return Reply(document: try JSONDocument(parsing: line), raw: line)
        } catch {
            throw .badReply("\(error)")
        }
    }

    /// Sends one request and waits for its reply.
    /// A broker that refuses a connection at accept (`peer_unexpected`, `too_many_connections`)
    /// answers and closes before the request is read, so the send may fail: the refusal is
    /// still waiting to be read and is the reply.
    public func request(_ line: [UInt8]) throws(Failure) -> Reply {
        do {
            try send(line)
        } catch {
            if let refusal = try? receive() { return refusal }
            throw error
        }
        return try receive()
    }

    public func request(_ writer: JSONWriter) throws(Failure) -> Reply { try request(writer.bytes) }

    /// `{"op": op}` plus string fields.
    public func request(op: String, _ fields: [(String, String)] = []) throws(Failure) -> Reply {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", op)
        for (key, value) in fields { writer.field(key, value) }
        writer.endObject()
        return try request(writer)
    }
}

/// One parsed reply line.
public struct Reply {
    public var document: JSONDocument
    public private(set) var raw: [UInt8]

    /// Zeroes both copies of the reply (it may hold a secret value).
    public mutating func zeroize() {
        document.zeroize()
        SecureZero.zero(&raw)
    }

    public var ok: Bool { document["ok"] == .bool(true) }

    public var code: String? { string("code") }
    public var message: String? { string("message") }

    public func string(_ key: String) -> String? {
        guard case .string(let span)? = document[key] else { return nil }
        return document.string(span)
    }

    public func int(_ key: String) -> Int? {
        guard case .number(let number)? = document[key] else { return nil }
        return document.int64(number).map { Int($0) }
    }

    public var text: String { String(decoding: raw, as: UTF8.self) }
}
