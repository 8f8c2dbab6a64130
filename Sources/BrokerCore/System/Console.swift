import CSeccomp

/// Line-at-a-time output to the standard streams with write(2): nothing sits in a stdio
/// buffer when the process dies, and no global `FILE*` is touched (not concurrency-safe).
public enum Console {
    public static func out(_ line: String) { write(line + "\n", to: 1) }
    public static func error(_ line: String) { write(line + "\n", to: 2) }

    public static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = Libc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    public static func exit(_ code: Int32) -> Never { Libc.exit(code) }
}
