@testable import BrokerCore
import Glibc

/// A fresh directory under /tmp, removed (recursively) when the value goes away.
final class AuditTestDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/remo-audit-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let created else { throw SystemError("mkdtemp") }
        path = created
    }

    deinit {
        _ = try? ChildProcess.run("/bin/rm", ["-rf", path])
    }

    func file(_ name: String) -> String { path + "/" + name }
}

/// One parsed audit line.
struct AuditLine {
    let document: JSONDocument

    init(_ bytes: [UInt8]) throws {
        document = try JSONDocument(parsing: bytes)
    }

    var keys: [String] {
        guard case .object(let members) = document.root else { return [] }
        return members.map { document.string($0.key) }
    }

    func kind(_ key: String) -> String? { document[key]?.kindName }

    func string(_ key: String) -> String? {
        guard case .string(let span)? = document[key] else { return nil }
        return document.string(span)
    }

    func int(_ key: String) -> Int64? {
        guard case .number(let number)? = document[key] else { return nil }
        return document.int64(number)
    }

    var event: String? { string("event") }
}

enum AuditTestSupport {
    static let peer = PeerCredentials(pid: 4242, uid: 1000, gid: 1001)

    /// A fetch whose latency field carries `sequence`, so order and loss can be checked.
    static func numberedFetch(_ sequence: Int) -> AuditEvent {
        .fetch(.project("project-a"), secretName: "gh", outcome: .ok, peer: peer, latencyMicros: sequence)
    }

    /// The file's lines without their "\n" (an absent file reads as no lines).
    static func lines(of path: String) -> [[UInt8]] {
        guard let bytes = try? FileSystem.readFile(path, maxBytes: 256 << 20) else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map(Array.init)
    }

    static func parsedLines(of path: String) throws -> [AuditLine] {
        try lines(of: path).map { try AuditLine($0) }
    }

    /// Polls `condition` every 5 ms for up to `timeoutSeconds` (generous: CI machines are
    /// slow and shared). Never used to assert on speed, only to wait for the writer thread.
    static func eventually(timeoutSeconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = AuditClock.nowNanos() + AuditClock.nanos(seconds: timeoutSeconds)
        while true {
            if condition() { return true }
            if AuditClock.nowNanos() > deadline { return false }
            usleep(5000)
        }
    }

    /// Days since 1970-01-01 of a civil date (inverse of the code under test, written
    /// independently to check it).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SS.ffffffZ` stamp whose shape was
    /// already checked.
    static func epochSeconds(ofStamp stamp: String) -> Int {
        let digits = Array(stamp.utf8)
        func number(_ range: Range<Int>) -> Int {
            digits[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        let days = daysFromCivil(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        return days * 86_400 + number(11..<13) * 3600 + number(14..<16) * 60 + number(17..<19)
    }

    /// True if `stamp` is exactly `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, UTC).
    static func isMicrosecondUTCStamp(_ stamp: String) -> Bool {
        let bytes = Array(stamp.utf8)
        guard bytes.count == 27 else { return false }
        let punctuation: [Int: Character] = [4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: ".", 26: "Z"]
        for (index, byte) in bytes.enumerated() {
            if let expected = punctuation[index] {
                if Character(Unicode.Scalar(byte)) != expected { return false }
            } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                return false
            }
        }
        return true
    }
}
