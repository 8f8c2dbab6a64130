import BrokerCore
import Glibc

/// Reads an audit log line by line (streaming: a release soak writes a million lines) and
/// says whether every line parses. A last line without its "\n" is *torn* — the writer was
/// killed inside a write — and is tolerated only there; anywhere else a bad line is a failure.
public struct AuditLogScan: Sendable {
    public var lines = 0
    /// 1-based numbers of lines that are not a JSON object with a string `event`.
    public var badLines: [Int] = []
    public var tornLastLine = false
    public var eventCounts: [String: Int] = [:]
    /// Set when the file cannot be read at all (a missing file is an empty log).
    public var readError: String?

    public var fetches: Int { eventCounts["fetch", default: 0] }
    public var parsesCleanly: Bool { badLines.isEmpty && readError == nil }

    public func count(_ event: String) -> Int { eventCounts[event, default: 0] }
}

public enum AuditLogReader {
    public static func scan(_ path: String) -> AuditLogScan {
        var scan = AuditLogScan()
        var pending: [UInt8] = []
        do {
            try FileSystem.readChunks(path, chunkSize: 1 << 20) { chunk in
                var start = chunk.startIndex
                for index in chunk.indices where chunk[index] == 0x0A {
                    if pending.isEmpty {
                        scan.take(chunk[start..<index])
                    } else {
                        pending += chunk[start..<index]
                        scan.take(pending[...])
                        pending.removeAll(keepingCapacity: true)
                    }
                    start = index + 1
                }
                pending += chunk[start...]
                return true
            }
        } catch {
            // A missing file is an empty log.
            if error.errno != ENOENT { scan.readError = "\(error)" }
            return scan
        }
        if !pending.isEmpty {
            scan.lines += 1
            scan.tornLastLine = true
        }
        return scan
    }

    /// Polls until the log holds at least `fetches` fetch lines and stops growing (the
    /// writer is asynchronous); returns the last scan.
    public static func waitForFetches(_ path: String, atLeast fetches: Int, timeoutSeconds: Double = 10) -> AuditLogScan {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        var scan = Self.scan(path)
        while scan.fetches < fetches, Monotonic.nanoseconds() < deadline {
            usleep(50_000)
            scan = Self.scan(path)
        }
        // Anything beyond `fetches` shows up within one more writer wake-up.
        usleep(100_000)
        return Self.scan(path)
    }
}

extension AuditLogScan {
    fileprivate mutating func take(_ line: ArraySlice<UInt8>) {
        lines += 1
        guard let document = try? JSONDocument(parsing: Array(line)), case .string(let span)? = document["event"] else {
            badLines.append(lines)
            return
        }
        eventCounts[document.string(span), default: 0] += 1
    }
}

/// Scans files for test secret values (`SecretMarker`): the "nothing secret on disk" check.
public enum MarkerScan {
    /// Regular files under `roots` (recursively) whose bytes carry a marker; sockets and
    /// other special files are skipped.
    public static func filesWithMarkers(under roots: [String]) -> [String] {
        var hits: [String] = []
        for root in roots { visit(root, &hits) }
        return hits
    }

    private static func visit(_ path: String, _ hits: inout [String]) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            for name in (try? FileSystem.listDirectory(path)) ?? [] { visit(path + "/" + name, &hits) }
        case S_IFREG:
            if fileCarriesMarker(path) { hits.append(path) }
        default:
            break
        }
    }

    /// Streams the file in 1 MiB chunks, keeping an overlap so a marker split across two
    /// chunks is still found.
    public static func fileCarriesMarker(_ path: String) -> Bool {
        let overlap = SecretMarker.prefix.utf8.count - 1
        var window: [UInt8] = []
        var found = false
        try? FileSystem.readChunks(path, chunkSize: 1 << 20) { chunk in
            window += chunk
            found = SecretMarker.occurs(in: window)
            window = Array(window.suffix(overlap))
            return !found
        }
        return found
    }
}
