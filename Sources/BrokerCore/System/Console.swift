import CSeccomp

/// Line-at-a-time output to the standard streams with write(2): nothing sits in a stdio
/// buffer when the process dies, and no global `FILE*` is touched (not concurrency-safe).
///
/// stderr is the journal: every line written there has its control characters escaped
/// (SPEC §13), so text a project controls (a manifest key, a path) can never end a line
/// early and forge a `remo-broker:` line after it. stdout is the commands' data (a `get`
/// value, `--json` replies) and is written as given.
public enum Console {
    public static func out(_ line: String) { write(line + "\n", to: 1) }

    /// One stderr line; control characters inside it are escaped.
    public static func error(_ line: String) { write(escapingControlCharacters(line) + "\n", to: 2) }

    /// The program's own multi-line text (help) on stderr: split at its newlines, each line
    /// escaped as `error` does.
    public static func errorLines(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { error(String(line)) }
    }

    /// `text` with C0 controls, DEL and C1 controls written as `\n`, `\t`, `\r` or `\xNN` /
    /// `\u{NN}`: nothing in the result moves the cursor or ends the line.
    public static func escapingControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                escaped.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default:
                let hex = String(scalar.value, radix: 16)
                escaped += scalar.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            }
        }
        return escaped
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }

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
