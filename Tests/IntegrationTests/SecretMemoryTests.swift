import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// "A later compromise of the broker process must find as little plaintext in its memory as
/// possible" (SPEC §1), and nothing secret ever touches disk. Markers are pushed, fetched and
/// cleared; then the broker's memory and files are searched for them. Values are never
/// printed: a finding names the marker by number and where it was.
@Suite struct SecretMemoryTests {
    /// Recognisable, unique per run: "REMO_TEST_MARKER_<random>_<n>".
    struct Markers {
        static let prefix = Array("REMO_TEST_MARKER_".utf8)
        let values: [String]

        init(count: Int) {
            let run = String(UInt64.random(in: 1...UInt64.max), radix: 16)
            values = (0..<count).map { "REMO_TEST_MARKER_\(run)_\($0)_" + String(repeating: "v", count: 24) }
        }
    }

    private func pushMarkers(_ broker: LaunchedBroker, _ markers: Markers) throws {
        let reply = try broker.layout.admin().request(requestLine {
            $0.field("op", "push-creds")
            $0.key("secrets")
            $0.beginObject()
            $0.field("mem_scalar", markers.values[0])
            $0.key("mem_bundle")
            $0.beginObject()
            $0.field("first", markers.values[1])
            $0.field("second", markers.values[2])
            $0.endObject()
            $0.endObject()
        })
        #expect(reply.ok, "push failed: \(reply.code ?? "?")")
    }

    @Test func noMarkerLeftInBrokerMemoryAfterClearCreds() throws {
        let broker = try LaunchedBroker()
        try broker.start()
        let socket = try broker.layout.registerProject("memproj", secrets: ["mem_scalar", "mem_bundle"])
        let markers = Markers(count: 3)
        try pushMarkers(broker, markers)

        // get each value (scalar, bundle) over a project connection, pipelined twice.
        let connection = try BrokerConnection(path: socket)
        for _ in 0..<2 {
            var scalar = try connection.request(op: "get", [("name", "mem_scalar")])
            #expect(scalar.string("value") == markers.values[0], "scalar value differs")
            scalar.zeroize()
            var bundle = try connection.request(op: "get", [("name", "mem_bundle")])
            #expect(bundle.ok && bundle.text.contains(markers.values[1]) && bundle.text.contains(markers.values[2]), "bundle differs")
            bundle.zeroize()
        }
        // The broker zeroes a reply in its output buffer right after send() returns; a reply
        // can reach this process just before that. One more round trip on the connection
        // means the broker (single-threaded) has finished with every earlier reply.
        #expect(try connection.request(op: "ping").ok)

        // Positive control: while pushed, the values are in the broker (in the locked arena
        // only), so the scanner demonstrably finds them.
        let whilePushed = try MemoryScan.scan(pid: broker.pid, for: markers)
        #expect(whilePushed.bytesScanned > 1 << 20)
        for index in 0..<3 {
            #expect(whilePushed.hits.contains { $0.marker == index }, "marker #\(index) not found while pushed: the scan is broken")
        }
        let outsideArena = whilePushed.hits.filter { !$0.inArena(broker.pid) }
        #expect(outsideArena.isEmpty, "while pushed, copies outside the secret arena: \(outsideArena)")

        #expect(try broker.layout.admin().request(op: "clear-creds").ok)
        #expect(try connection.request(op: "get", [("name", "mem_scalar")]).code == "not_found")
        let afterClear = try MemoryScan.scan(pid: broker.pid, for: markers)
        #expect(afterClear.hits.isEmpty, "marker bytes left in broker memory after clear-creds: \(afterClear.hits)")
        #expect(try broker.stop().exitCode == 0)
    }

    @Test func noMarkerOnDiskAfterSIGKILL() throws {
        let broker = try LaunchedBroker()
        try broker.start()
        let socket = try broker.layout.registerProject("diskproj", secrets: ["mem_scalar", "mem_bundle"])
        let markers = Markers(count: 3)
        try pushMarkers(broker, markers)
        var reply = try BrokerConnection(path: socket).request(op: "get", [("name", "mem_scalar")])
        #expect(reply.ok)
        reply.zeroize()
        _ = broker.layout.waitForAudit { AuditFile.events($0).contains("fetch") }
        let status = try broker.stop(signal: SIGKILL)
        #expect(status.signal == SIGKILL)

        // Everything the broker had: socket dir, state dir (registry), audit log, its stderr.
        let files = regularFiles(under: broker.layout.root.path).filter { !$0.contains("/projects/diskproj/.remo/") }
        #expect(files.contains { $0.hasSuffix("/registry.json") } && files.contains { $0.hasSuffix("/audit.log") }, "\(files)")
        for file in files {
            let bytes = try FileSystem.readFile(file, maxBytes: 1 << 30)
            #expect(MemoryScan.find(Markers.prefix, in: bytes).isEmpty, "a marker is on disk in \(file)")
        }
    }

    private func regularFiles(under directory: String) -> [String] {
        var result: [String] = []
        for name in (try? FileSystem.listDirectory(directory)) ?? [] {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: result += regularFiles(under: path)
            case S_IFREG: result.append(path)
            default: break
            }
        }
        return result
    }
}

/// Searches a live process's readable mappings through /proc/<pid>/mem (root: the broker is
/// not dumpable, so this needs CAP_SYS_PTRACE).
enum MemoryScan {
    struct Hit: CustomStringConvertible {
        /// Index of the full marker found here, or -1 for the prefix alone (a partial copy).
        let marker: Int
        let address: UInt64
        let mapping: Mapping
        /// The bytes around the hit with every marker replaced by <M#> (never a value), to
        /// tell what structure holds the copy.
        let context: String

        var description: String {
            let what = marker >= 0 ? "marker #\(marker)" : "marker prefix (partial copy)"
            return "\(what) at 0x\(String(address, radix: 16)) in \(mapping) (+0x\(String(address - mapping.start, radix: 16))), context: \(context)"
        }

        /// In the secret arena: the one anonymous read-write mapping with PROT_NONE guard
        /// pages on both sides (see SecretArena).
        func inArena(_ pid: pid_t) -> Bool {
            guard let maps = try? MemoryScan.mappings(pid) else { return false }
            guard let index = maps.firstIndex(where: { $0.start == mapping.start }), index > 0, index + 1 < maps.count else { return false }
            return maps[index - 1].permissions.hasPrefix("---") && maps[index - 1].end == mapping.start
                && maps[index + 1].permissions.hasPrefix("---") && maps[index + 1].start == mapping.end
                && mapping.path.isEmpty
        }
    }

    struct Mapping: CustomStringConvertible {
        let start: UInt64
        let end: UInt64
        let permissions: String
        let path: String
        var description: String {
            "\(String(start, radix: 16))-\(String(end, radix: 16)) \(permissions) \(path.isEmpty ? "[anonymous]" : path)"
        }
    }

    static func mappings(_ pid: pid_t) throws -> [Mapping] {
        let text = String(decoding: try FileSystem.readFile("/proc/\(pid)/maps", maxBytes: 64 << 20), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16) else { return nil }
            let path = fields.count > 5 ? String(fields[5]).trimmingSpaces : ""
            return Mapping(start: start, end: end, permissions: String(fields[1]), path: path)
        }
    }

    /// Every occurrence of the markers' common prefix in `pid`'s readable memory, each
    /// attributed to the full marker it begins (if any).
    static func scan(pid: pid_t, for markers: SecretMemoryTests.Markers) throws -> (hits: [Hit], bytesScanned: Int) {
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", subject: "/proc/\(pid)/mem") }
        defer { close(fd) }
        let needles = markers.values.map { Array($0.utf8) }
        let longest = needles.map(\.count).max() ?? 0
        var hits: [Hit] = []
        var scanned = 0
        let chunkSize = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkSize + longest)
        for mapping in try mappings(pid) where mapping.permissions.hasPrefix("r") && mapping.path != "[vvar]" && mapping.path != "[vsyscall]" {
            var offset = mapping.start
            while offset < mapping.end {
                let length = Int(min(UInt64(chunkSize + longest), mapping.end - offset))
                let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(Int64(bitPattern: offset))) }
                if count <= 0 { break }  // unreadable (e.g. a device mapping): skip the rest
                scanned += count
                chunk.withUnsafeBytes { raw in
                    let view = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    for position in find(SecretMemoryTests.Markers.prefix, in: view) {
                        // A match starting in the overlap is found again by the next chunk.
                        if count == chunkSize + longest, position >= chunkSize { continue }
                        let rest = UnsafeRawBufferPointer(rebasing: view[position...])
                        let marker = needles.firstIndex { needle in rest.count >= needle.count && rest.prefix(needle.count).elementsEqual(needle) } ?? -1
                        let around = Array(view[max(0, position - 64)..<min(count, position + 160)])
                        hits.append(Hit(marker: marker, address: offset + UInt64(position), mapping: mapping,
                                        context: masked(around, needles)))
                    }
                }
                offset += UInt64(min(count, chunkSize))
            }
        }
        return (hits, scanned)
    }

    /// `bytes` as printable text with each marker (or bare prefix) replaced by a tag.
    static func masked(_ bytes: [UInt8], _ needles: [[UInt8]]) -> String {
        var out = ""
        var index = 0
        let prefix = SecretMemoryTests.Markers.prefix
        while index < bytes.count {
            let rest = bytes[index...]
            if let marker = needles.firstIndex(where: { rest.starts(with: $0) }) {
                out += "<M\(marker)>"
                index += needles[marker].count
            } else if rest.starts(with: prefix) || prefix.starts(with: rest) {
                out += "<M?>"
                index += min(prefix.count, rest.count)
                while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] >= 0x21, bytes[index] < 0x7F { index += 1 }
            } else {
                let byte = bytes[index]
                out += byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "."
                index += 1
            }
        }
        return out
    }

    /// Offsets of every occurrence of `needle` in `haystack`.
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> [Int] {
        guard let first = needle.first, haystack.count >= needle.count, let base = haystack.baseAddress else { return [] }
        var found: [Int] = []
        var position = 0
        while position + needle.count <= haystack.count {
            guard let hit = memchr(base + position, Int32(first), haystack.count - position - needle.count + 1) else { break }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + offset, needle, needle.count) == 0 { found.append(offset) }
            position = offset + 1
        }
        return found
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> [Int] {
        bytes.withUnsafeBytes { find(needle, in: $0) }
    }
}
