import CSeccomp

/// A failed system call: which call, on what (a path or fd, never data), and errno.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public let subject: String?

    public init(_ call: String, errno: Int32 = Libc.errno, subject: String? = nil) {
        self.call = call
        self.errno = errno
        self.subject = subject
    }

    public var errnoName: String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }

    public var description: String {
        let on = subject.map { " \($0)" } ?? ""
        return "\(call)\(on): \(errnoName) (errno \(errno))"
    }
}

/// Calls `body` until it does not fail with EINTR; returns its result or throws on -1.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(
    _ call: String, subject: String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        if errno != EINTR { throw SystemError(call, subject: subject) }
    }
}
