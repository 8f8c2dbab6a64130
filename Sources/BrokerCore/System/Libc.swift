import CSeccomp

// The C library as the product modules see it, in both build modes. Embedded Swift (the
// shipped binary) has no Glibc module: CSeccomp's header includes the libc headers instead,
// and the few things that were Glibc's Swift additions are here.

/// errno of the calling thread. Module-internal so that tests and harnesses, which import
/// Glibc, keep Glibc's.
var errno: Int32 {
    get { remo_errno() }
    set { remo_set_errno(newValue) }
}

// What Glibc's Swift module added over the C headers, with the same names and types so call
// sites read as they would with Glibc. Module-internal, so no clash where Glibc is imported.
@inline(__always) func open(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { remo_open(path, flags, mode) }
@inline(__always) func openat(_ directory: Int32, _ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    remo_openat(directory, path, flags, mode)
}
@inline(__always) func fcntl(_ fd: Int32, _ command: Int32, _ argument: Int32 = 0) -> Int32 { remo_fcntl(fd, command, argument) }
var environ: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> { UnsafeMutablePointer(mutating: remo_environment()!) }
let SIG_DFL: __sighandler_t? = nil
let SIG_IGN: __sighandler_t? = unsafeBitCast(1, to: __sighandler_t.self)
let S_IFMT = mode_t(0o170000)
let S_IFDIR = mode_t(0o040000)
let S_IFCHR = mode_t(0o020000)
let S_IFBLK = mode_t(0o060000)
let S_IFREG = mode_t(0o100000)
let S_IFIFO = mode_t(0o010000)
let S_IFLNK = mode_t(0o120000)
let S_IFSOCK = mode_t(0o140000)

/// libc functions under a name that cannot be shadowed: inside a type with its own `close`
/// or `write`, `Libc.close(fd)` still means close(2).
public enum Libc {
    public static var errno: Int32 {
        get { remo_errno() }
        set { remo_set_errno(newValue) }
    }

    @discardableResult @inline(__always) public static func close(_ fd: Int32) -> Int32 { libcClose(fd) }
    @inline(__always) public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        libcRead(fd, buffer, count)
    }
    @discardableResult @inline(__always) public static func write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        libcWrite(fd, buffer, count)
    }
    @inline(__always) public static func open(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        libcOpen(path, flags, mode)
    }
    @inline(__always) public static func exit(_ status: Int32) -> Never { libcExit(status) }
    @inline(__always) public static func listen(_ fd: Int32, _ backlog: Int32) -> Int32 { libcListen(fd, backlog) }
    @inline(__always) public static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
        libcConnect(fd, address, length)
    }
    @inline(__always) public static func send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
        libcSend(fd, buffer, count, flags)
    }
    @inline(__always) public static func signal(_ signal: Int32, _ handler: __sighandler_t?) -> __sighandler_t? {
        libcSignal(signal, handler)
    }
    @inline(__always) public static func fork() -> pid_t { libcFork() }
    @inline(__always) public static func execve(_ path: UnsafePointer<CChar>, _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
                                                _ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        libcExecve(path, argv, envp)
    }
    @inline(__always) public static func mount(_ source: UnsafePointer<CChar>?, _ target: UnsafePointer<CChar>?,
                                               _ type: UnsafePointer<CChar>?, _ flags: UInt, _ data: UnsafeRawPointer?) -> Int32 {
        libcMount(source, target, type, flags, data)
    }

    /// The process's arguments, program name first (CommandLine.arguments, which Embedded
    /// Swift lacks).
    public static var arguments: [String] {
        let count = Int(remo_argc())
        guard let argv = remo_argv() else { return [] }
        return (0..<count).compactMap { argv[$0].map { String(cString: $0) } }
    }
}

// File-scope forwarders: at this scope the names can only mean libc's.
@inline(__always) private func libcClose(_ fd: Int32) -> Int32 { close(fd) }
@inline(__always) private func libcRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
@inline(__always) private func libcWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
@inline(__always) private func libcOpen(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 { remo_open(path, flags, mode) }
@inline(__always) private func libcExit(_ status: Int32) -> Never { exit(status) }
@inline(__always) private func libcListen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
@inline(__always) private func libcConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
@inline(__always) private func libcSend(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
    send(fd, buffer, count, flags)
}
@inline(__always) private func libcSignal(_ number: Int32, _ handler: __sighandler_t?) -> __sighandler_t? { signal(number, handler) }
@inline(__always) private func libcFork() -> pid_t { fork() }
@inline(__always) private func libcExecve(_ path: UnsafePointer<CChar>, _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
                                          _ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    execve(path, argv, envp)
}
@inline(__always) private func libcMount(_ source: UnsafePointer<CChar>?, _ target: UnsafePointer<CChar>?,
                                         _ type: UnsafePointer<CChar>?, _ flags: UInt, _ data: UnsafeRawPointer?) -> Int32 {
    mount(source, target, type, flags, data)
}

/// timespec under a name no member can shadow.
public typealias CTimespec = timespec
