import CSeccomp

// The hash chain of SPEC §11, writer side. Each line the writer appends becomes a *link*:
//   {"seq":N,"prev":"<hex SHA-256 of link N-1 without its newline>","ts":...,"event":...}
// `seq` and `prev` are put in front of the encoded event when the line is written (never
// when it is recorded): a line held in memory during an outage or refused by a full queue
// gets no number, so the numbers count exactly what reached the file.

/// A position in the chain: the last link's `seq` and SHA-256 (seq 0 and 64 zeros: nothing yet).
public struct AuditChainHead: Equatable, Sendable {
    public var seq: UInt64
    public var digest: SHA256.Digest

    public static let genesis = AuditChainHead(seq: 0, digest: .zero)

    public init(seq: UInt64, digest: SHA256.Digest) {
        self.seq = seq
        self.digest = digest
    }

    /// `{"seq":N,"sha256":"<hex>"}` and a newline: the content of `audit.head`.
    public var fileContent: [UInt8] {
        var out = Array("{\"seq\":\(seq),\"sha256\":\"".utf8)
        digest.appendHex(to: &out)
        out.append(contentsOf: "\"}\n".utf8)
        return out
    }

    /// The stderr line that carries the head to journald.
    public var logLine: String {
        "remo-broker: audit head seq=\(seq) sha256=\(digest.hex)"
    }

    /// Parses `audit.head`'s content; nil unless it is exactly that object.
    public static func parse(_ bytes: [UInt8]) -> AuditChainHead? {
        guard let document = try? JSONDocument(parsing: bytes),
              case .number(let number)? = document["seq"], let seq = document.int64(number), seq >= 0,
              case .string(let span)? = document["sha256"],
              let digest = SHA256.Digest(hex: document.string(span)) else { return nil }
        return AuditChainHead(seq: UInt64(seq), digest: digest)
    }

    /// The head recorded at `path`, nil when it is missing or unreadable.
    public static func read(_ path: String) -> AuditChainHead? {
        guard let bytes = try? FileSystem.readFile(path, maxBytes: 4096) else { return nil }
        return parse(bytes)
    }

    /// Replaces `path` atomically (temp file, rename over it), without fsync: the log lines
    /// the head describes are not fsynced either, and a head made more durable than its log
    /// would, after a power loss, claim lines the disk never got (a false "truncated"). It
    /// also keeps the writer off the disk's flush path (measured here: ~0.6 ms per fsynced
    /// head, up to ~85 heads a second at full load).
    func write(to path: String) throws(SystemError) {
        try FileSystem.writeAtomically(path, fileContent, mode: 0o600, durable: false)
    }
}

/// The writer's end of the chain: turns encoded events into links and advances only by the
/// links that were written completely.
struct AuditChain {
    /// The last link written.
    private(set) var head: AuditChainHead
    /// Links put into the write buffer but not yet known to be written: byte length and digest.
    private var staged: [(length: Int, digest: SHA256.Digest)] = []

    init(head: AuditChainHead) {
        self.head = head
    }

    /// Appends `line` (an encoded event: `{...}` and a newline) to `buffer` as the next link
    /// after everything staged so far. Returns the link's length in bytes.
    @discardableResult
    mutating func stage(_ line: [UInt8], into buffer: inout [UInt8]) -> Int {
        let previous = staged.last.map { (seq: head.seq + UInt64(staged.count), digest: $0.digest) }
            ?? (seq: head.seq, digest: head.digest)
        let start = buffer.count
        buffer.append(contentsOf: "{\"seq\":".utf8)
        Self.appendDecimal(previous.seq + 1, to: &buffer)
        buffer.append(contentsOf: ",\"prev\":\"".utf8)
        previous.digest.appendHex(to: &buffer)
        buffer.append(contentsOf: "\",".utf8)
        // The event's own members, without its opening brace.
        line.withUnsafeBufferPointer { event in
            guard event.count > 1 else { return }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: event[1...]))
        }
        let digest = buffer.withUnsafeBytes { bytes in
            var end = bytes.count
            if end > start, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
            return SHA256.digest(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
        let length = buffer.count - start
        staged.append((length, digest))
        return length
    }

    /// Byte length of staged link `index` (0-based, in staging order).
    func stagedLength(_ index: Int) -> Int { staged[index].length }

    var stagedCount: Int { staged.count }

    /// The first `count` staged links reached the file; the rest did not (they will be
    /// staged again, with the same numbers, when they are retried).
    mutating func commit(_ count: Int) {
        if count > 0 {
            head = AuditChainHead(seq: head.seq + UInt64(count), digest: staged[count - 1].digest)
        }
        staged.removeAll(keepingCapacity: true)
    }

    static func appendDecimal(_ value: UInt64, to buffer: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, to: &buffer) }
        buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}

/// Where a restarted writer picks the chain up (SPEC §11).
enum AuditChainStart {
    /// The last link in the file at `path` (searching back over torn and foreign lines), and
    /// whether the file ends inside a line. Reads only the file's tail; called before the
    /// seccomp filter is installed (it uses `pread`).
    static func scanTail(_ path: String, maxBytes: Int = 4 << 20) -> (last: AuditChainHead?, endsInsideLine: Bool) {
        let fd = Libc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return (nil, false) }
        defer { Libc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else { return (nil, false) }
        let size = Int(info.st_size)
        var window = min(size, 64 * 1024)
        while true {
            var tail = [UInt8](repeating: 0, count: window)
            let read = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, window, off_t(size - window)) }
            guard read == window else { return (nil, false) }
            let endsInsideLine = tail[window - 1] != UInt8(ascii: "\n")
            // Complete lines only: drop the torn remainder after the last newline.
            var end = window
            while end > 0, tail[end - 1] != UInt8(ascii: "\n") { end -= 1 }
            // Walk back line by line; the first line of the window counts only when the
            // window starts at the beginning of the file.
            while end > 0 {
                let lineEnd = end - 1
                var lineStart = lineEnd
                while lineStart > 0, tail[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
                if lineStart == 0 && window < size { break }
                if let link = AuditLink.parse(tail[lineStart..<lineEnd]) {
                    return (AuditChainHead(seq: link.seq, digest: link.digest), endsInsideLine)
                }
                end = lineStart
            }
            guard window < size, window < maxBytes else { return (nil, endsInsideLine) }
            window = min(size, min(maxBytes, window * 4))
        }
    }

    /// The head to continue from: the file's last link, or `audit.head` when the file was
    /// rotated away, is missing or empty — whichever is further along (a file that ends
    /// before the recorded head was cut: continuing from the head keeps that gap visible).
    static func choose(fileLast: AuditChainHead?, recorded: AuditChainHead?) -> AuditChainHead {
        switch (fileLast, recorded) {
        case let (file?, head?): return head.seq > file.seq ? head : file
        case let (file?, nil): return file
        case let (nil, head?): return head
        case (nil, nil): return .genesis
        }
    }
}

/// One link as read back: `seq`, `prev`, and the SHA-256 of the whole line.
struct AuditLink {
    let seq: UInt64
    let prev: SHA256.Digest
    let digest: SHA256.Digest

    /// A complete line (without its newline) that is a JSON object starting with `seq` and
    /// `prev` (as `audit --verify` reads it); nil for a torn or foreign line.
    static func parse(_ line: ArraySlice<UInt8>) -> AuditLink? {
        line.withUnsafeBytes { bytes in
            guard AuditLineSyntax.isObject(bytes), let front = AuditLineSyntax.chainFields(bytes) else { return nil }
            return AuditLink(seq: front.seq, prev: front.prev, digest: SHA256.digest(bytes))
        }
    }
}
