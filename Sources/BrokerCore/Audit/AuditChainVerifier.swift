import CSeccomp

/// `audit --verify` (SPEC §11): recomputes the hash chain over one or more audit files
/// (oldest first) and says PASS or where and how it breaks.
///
/// One pass, streaming, no allocation per line: lines are found with `memchr` in a 1 MiB
/// read buffer, a link's `seq`/`prev` are read from its front (where the writer puts them),
/// its JSON shape is checked without building a tree, and its SHA-256 is computed in place.
/// Only at the first break does the verifier look further ahead, to tell the kinds apart:
/// - *edited*: a link's bytes changed, so the next link's `prev` no longer matches it (or
///   the link at the recorded head's `seq` does not match the head);
/// - *inserted*: a link that repeats an earlier `seq`, or that the next link skips over;
/// - *removed*: `seq` jumps ahead and the missing numbers never come;
/// - *reordered*: `seq` jumps ahead and the skipped number comes later;
/// - *foreign*: a JSON object without `seq`/`prev`;
/// - *truncated*: the current log ends before the head recorded in `audit.head`.
/// A line that is not a complete JSON object is *torn* (a crash mid-write): not a link,
/// reported, not a failure.
public struct AuditChainVerifier {
    public struct Failure: Equatable, Sendable {
        public enum Kind: String, Sendable {
            case edited, inserted, removed, reordered, foreign, truncated, unreadable
        }
        public var kind: Kind
        public var file: String
        public var line: Int
        public var seq: UInt64?
        public var detail: String

        public var message: String {
            "FAIL: \(file): line \(line) (seq \(seq.map { String($0) } ?? "-")): \(kind.rawValue): \(detail)"
        }
    }

    public struct TornLine: Equatable, Sendable {
        public var file: String
        public var line: Int
    }

    public struct Report: Sendable {
        /// Links checked.
        public var links = 0
        public var firstSeq: UInt64 = 0
        public var lastSeq: UInt64 = 0
        public var head: SHA256.Digest = .zero
        public var torn: [TornLine] = []
        public var failure: Failure?

        public var passed: Bool { failure == nil }

        /// What `audit --verify` prints on stdout.
        public var lines: [String] {
            if let failure { return [failure.message] }
            var out = ["PASS: \(links) lines, seq \(firstSeq)..\(lastSeq), head \(head.hex)"]
            for line in torn { out.append("torn: \(line.file): line \(line.line)") }
            return out
        }
    }

    /// A link's place and identity, as far as classification needs it.
    struct Link {
        var file: Int
        var line: Int
        var seq: UInt64
        var prev: SHA256.Digest
        var digest: SHA256.Digest
    }

    /// Verifies `files` in order as one chain. `recordedHead`: the head from `audit.head`,
    /// checked only when the last file is the current log (pass nil otherwise). A file
    /// listed in `missingAsEmpty` (the current log, which rotation may have moved away)
    /// reads as empty when it does not exist.
    /// A line longer than `maxLineBytes` (no broker line comes near it) stops the check as
    /// unreadable instead of growing the read buffer without bound.
    public static func verify(files: [String], recordedHead: AuditChainHead?,
                              missingAsEmpty: Set<String> = [], maxLineBytes: Int = 64 << 20) -> Report {
        var verifier = Run(files: files, recordedHead: recordedHead, missingAsEmpty: missingAsEmpty, maxLineBytes: maxLineBytes)
        verifier.run()
        return verifier.report
    }

    private struct Run {
        let files: [String]
        let recordedHead: AuditChainHead?
        let missingAsEmpty: Set<String>
        var report = Report()
        let reader: AuditLineReader
        var last: Link?

        init(files: [String], recordedHead: AuditChainHead?, missingAsEmpty: Set<String>, maxLineBytes: Int) {
            self.files = files
            self.recordedHead = recordedHead
            self.missingAsEmpty = missingAsEmpty
            self.reader = AuditLineReader(files: files, missingAsEmpty: missingAsEmpty, maxLineBytes: maxLineBytes)
        }

        mutating func fail(_ kind: Failure.Kind, file: Int, line: Int, seq: UInt64?, _ detail: String) {
            report.failure = Failure(kind: kind, file: files[file], line: line, seq: seq, detail: detail)
        }

        mutating func run() {
            while report.failure == nil {
                guard let item = reader.next() else { break }
                switch item {
                case .unreadable(let file, let error):
                    fail(.unreadable, file: file, line: 0, seq: nil, "cannot read (\(error))")
                case .torn(let file, let line):
                    report.torn.append(TornLine(file: files[file], line: line))
                case .foreign(let file, let line):
                    fail(.foreign, file: file, line: line, seq: nil, "a JSON object without seq and prev")
                case .link(let link):
                    accept(link)
                }
            }
            guard report.failure == nil else { return }
            checkTail()
        }

        mutating func accept(_ link: Link) {
            if let last {
                let expected = last.seq + 1
                if link.seq == expected && link.prev == last.digest {
                    // fine
                } else if link.seq == expected {
                    classifyBadPrev(link, after: last)
                    return
                } else if link.seq > expected {
                    classifyJump(link, expected: expected)
                    return
                } else {
                    fail(.inserted, file: link.file, line: link.line, seq: link.seq,
                         "seq \(link.seq) repeats or goes back (seq \(expected) expected)")
                    return
                }
            } else {
                // The first file may start mid-chain; a chain that starts at 1 starts at zero.
                if link.seq == 1 && link.prev != .zero {
                    fail(.edited, file: link.file, line: link.line, seq: link.seq, "the first link's prev is not 64 zeros")
                    return
                }
                report.firstSeq = link.seq
            }
            if let head = recordedHead, link.seq == head.seq, link.digest != head.digest {
                fail(.edited, file: link.file, line: link.line, seq: link.seq,
                     "does not match the head recorded in audit.head (sha256 \(head.digest.hex))")
                return
            }
            last = link
            report.links += 1
            report.lastSeq = link.seq
            report.head = link.digest
        }

        /// `link` has the expected seq but its prev is not the last link's hash.
        mutating func classifyBadPrev(_ link: Link, after last: Link) {
            let next = reader.nextLink()
            if let next, next.seq == link.seq, next.prev == last.digest {
                fail(.inserted, file: link.file, line: link.line, seq: link.seq,
                     "not in the chain: the next line links to line \(last.line) of \(files[last.file])")
            } else if let next, next.seq == link.seq + 1, next.prev != link.digest {
                fail(.edited, file: link.file, line: link.line, seq: link.seq,
                     "its hash no longer matches the next line's prev")
            } else {
                fail(.edited, file: last.file, line: last.line, seq: last.seq,
                     "its hash no longer matches the prev of line \(link.line) of \(files[link.file])")
            }
        }

        /// `link`'s seq is beyond the expected one: the missing links come later (reordered),
        /// or never (removed).
        mutating func classifyJump(_ link: Link, expected: UInt64) {
            while let later = reader.nextLink() {
                if later.seq == expected {
                    fail(.reordered, file: link.file, line: link.line, seq: link.seq,
                         "seq \(expected) expected here; it comes later, at line \(later.line) of \(files[later.file])")
                    return
                }
            }
            let missing = link.seq - 1 == expected ? "seq \(expected) is" : "seq \(expected)..\(link.seq - 1) are"
            fail(.removed, file: link.file, line: link.line, seq: link.seq, "\(missing) missing before this line")
        }

        /// The current log must reach the recorded head.
        mutating func checkTail() {
            guard let head = recordedHead, let lastFile = files.indices.last else { return }
            let lastSeq = last?.seq ?? 0
            guard lastSeq < head.seq else { return }
            fail(.truncated, file: last?.file ?? lastFile, line: last?.line ?? 0, seq: last?.seq,
                 "the log ends at seq \(lastSeq), before the head recorded in audit.head (seq \(head.seq))")
        }
    }
}

/// Streams the lines of several files, classified as links, torn or foreign lines.
final class AuditLineReader {
    enum Item {
        case link(AuditChainVerifier.Link)
        case torn(file: Int, line: Int)
        case foreign(file: Int, line: Int)
        case unreadable(file: Int, error: String)
    }

    let files: [String]
    let missingAsEmpty: Set<String>
    let maxLineBytes: Int
    private var fileIndex = -1
    private var fd: Int32 = -1
    private var lineNumber = 0
    private var buffer: UnsafeMutableRawBufferPointer
    /// Unconsumed bytes are buffer[start..<end].
    private var start = 0
    private var end = 0
    private var eof = true

    init(files: [String], missingAsEmpty: Set<String>, maxLineBytes: Int) {
        self.files = files
        self.missingAsEmpty = missingAsEmpty
        self.maxLineBytes = maxLineBytes
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit {
        if fd >= 0 { Libc.close(fd) }
        buffer.deallocate()
    }

    /// The next link, skipping torn and foreign lines (for look-ahead after a break).
    func nextLink() -> AuditChainVerifier.Link? {
        while let item = next() {
            if case .link(let link) = item { return link }
        }
        return nil
    }

    func next() -> Item? {
        while true {
            if let newline = findNewline() {
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<newline])
                start = newline + 1
                lineNumber += 1
                return classify(line)
            }
            if !eof {
                if let error = fill() { return .unreadable(file: fileIndex, error: error) }
                continue
            }
            if start < end {
                // A last line without its newline: the writer was killed inside it.
                start = end
                lineNumber += 1
                return .torn(file: fileIndex, line: lineNumber)
            }
            if fd >= 0 { Libc.close(fd); fd = -1 }
            guard fileIndex + 1 < files.count else { return nil }
            fileIndex += 1
            lineNumber = 0
            start = 0
            end = 0
            fd = Libc.open(files[fileIndex], O_RDONLY | O_CLOEXEC | O_NOCTTY)
            if fd < 0 {
                if errno == ENOENT && missingAsEmpty.contains(files[fileIndex]) { continue }
                return .unreadable(file: fileIndex, error: SystemError("open").errnoName)
            }
            eof = false
        }
    }

    private func findNewline() -> Int? {
        guard end > start, let base = buffer.baseAddress else { return nil }
        guard let found = memchr(base + start, 0x0A, end - start) else { return nil }
        return UnsafeRawPointer(found) - UnsafeRawPointer(base)
    }

    /// Moves the partial line to the front (growing the buffer for a very long line) and reads more.
    private func fill() -> String? {
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        if end == buffer.count {
            guard end < maxLineBytes else {
                eof = true
                return "line \(lineNumber + 1) is longer than \(maxLineBytes) bytes"
            }
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            buffer.deallocate()
            buffer = grown
        }
        while true {
            let count = Libc.read(fd, buffer.baseAddress! + end, buffer.count - end)
            if count > 0 { end += count; return nil }
            if count == 0 { eof = true; return nil }
            if errno == EINTR { continue }
            eof = true
            return SystemError("read").errnoName
        }
    }

    private func classify(_ line: UnsafeRawBufferPointer) -> Item {
        guard AuditLineSyntax.isObject(line) else { return .torn(file: fileIndex, line: lineNumber) }
        guard let front = AuditLineSyntax.chainFields(line) else { return .foreign(file: fileIndex, line: lineNumber) }
        return .link(AuditChainVerifier.Link(file: fileIndex, line: lineNumber, seq: front.seq, prev: front.prev,
                                             digest: SHA256.digest(line)))
    }
}

/// Just enough JSON to tell a complete object from a torn line, without building a tree.
enum AuditLineSyntax {
    /// `seq` and `prev` from the front of a link, where the writer puts them:
    /// `{"seq":N,"prev":"<64 hex>",`. A line with them anywhere else is treated as foreign
    /// (the broker never writes one).
    static func chainFields(_ line: UnsafeRawBufferPointer) -> (seq: UInt64, prev: SHA256.Digest)? {
        let seqKey: StaticString = "{\"seq\":"
        let prevKey: StaticString = ",\"prev\":\""
        guard hasPrefix(line, at: 0, seqKey) else { return nil }
        var index = seqKey.utf8CodeUnitCount
        var seq: UInt64 = 0
        let digitsStart = index
        while index < line.count, line[index] >= 0x30, line[index] <= 0x39, index - digitsStart < 19 {
            seq = seq * 10 + UInt64(line[index] - 0x30)
            index += 1
        }
        guard index > digitsStart, seq >= 1, !(line[digitsStart] == 0x30),
              hasPrefix(line, at: index, prevKey) else { return nil }
        index += prevKey.utf8CodeUnitCount
        guard index + 65 <= line.count, line[index + 64] == UInt8(ascii: "\""),
              let prev = SHA256.Digest(hex: UnsafeRawBufferPointer(rebasing: line[index..<(index + 64)])) else { return nil }
        return (seq, prev)
    }

    private static func hasPrefix(_ line: UnsafeRawBufferPointer, at offset: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard offset + count <= line.count else { return false }
        return memcmp(line.baseAddress! + offset, text.utf8Start, count) == 0
    }

    /// True when `line` is exactly one JSON object (RFC 8259 syntax, UTF-8), with no
    /// surrounding whitespace. Nesting is limited to 64 levels.
    static func isObject(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.count >= 2, line[0] == UInt8(ascii: "{"), line[line.count - 1] == UInt8(ascii: "}") else { return false }
        var scanner = Scanner(bytes: line)
        return scanner.value(depth: 0) && scanner.index == line.count
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var current: UInt8 { index < bytes.count ? bytes[index] : 0 }

        mutating func whitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < 64 else { return false }
            switch current {
            case UInt8(ascii: "{"): return container(closedBy: UInt8(ascii: "}"), keyed: true, depth: depth)
            case UInt8(ascii: "["): return container(closedBy: UInt8(ascii: "]"), keyed: false, depth: depth)
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number()
            }
        }

        /// An object (`keyed`: each member is `"key": value`) or an array, from its opening bracket.
        mutating func container(closedBy close: UInt8, keyed: Bool, depth: Int) -> Bool {
            index += 1
            whitespace()
            if current == close { index += 1; return true }
            while true {
                whitespace()
                if keyed {
                    guard current == UInt8(ascii: "\""), string() else { return false }
                    whitespace()
                    guard current == UInt8(ascii: ":") else { return false }
                    index += 1
                    whitespace()
                }
                guard value(depth: depth + 1) else { return false }
                whitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                guard current == close else { return false }
                index += 1
                return true
            }
        }

        mutating func literal(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard index + count <= bytes.count, memcmp(bytes.baseAddress! + index, text.utf8Start, count) == 0 else { return false }
            index += count
            return true
        }

        mutating func digits() -> Int {
            let first = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            return index - first
        }

        mutating func number() -> Bool {
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else {
                guard digits() > 0 else { return false }
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return false }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return false }
            }
            return true
        }

        /// A string starting at the opening quote: escapes checked, no raw control
        /// characters, valid UTF-8.
        mutating func string() -> Bool {
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { index += 1; return true }
                if byte < 0x20 { return false }
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    switch current {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        guard index + 5 <= bytes.count else { return false }
                        for offset in 1...4 where !isHex(bytes[index + offset]) { return false }
                        index += 5
                    default:
                        return false
                    }
                } else if byte < 0x80 {
                    index += 1
                } else {
                    let length = UTF8Validation.sequenceLength(
                        UnsafeBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: bytes.count),
                        at: index)
                    guard length > 0 else { return false }
                    index += length
                }
            }
            return false
        }

        func isHex(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
        }
    }
}
