import BrokerCore
import CSeccomp

/// `audit [--tail] [--since DURATION|RFC3339] [--project P] [--unit U] [--decision allow|deny] [--json]`:
/// reads the audit log as an aligned table (or raw lines with --json). A torn or foreign line
/// is shown as such (its length only — it could hold anything), never crashes the reader.
enum AuditCommand {
    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        let filter = try AuditFilter(arguments)
        let path = try resolvePath(arguments)
        var reader = AuditReader(path: path)
        let printer = AuditPrinter(json: arguments.has("json"))
        if !printer.json { Console.out(printer.header) }
        guard reader.open() || arguments.has("tail") else {
            throw CommandFailure(message: "cannot read \(path): \(SystemError("open").errnoName)", exitCode: 66)
        }
        while true {
            for line in reader.readLines(final: !arguments.has("tail")) {
                printer.print(line, filter: filter)
            }
            guard arguments.has("tail") else { return 0 }
            usleep(200_000)
            for line in reader.followRotation() {
                printer.print(line, filter: filter)
            }
        }
    }

    /// --audit-log, else audit_log_path of --config, else the running broker's, else the default.
    static func resolvePath(_ arguments: Arguments) throws(CommandFailure) -> String {
        if let path = arguments.value("audit-log") { return path }
        if let config = try loadConfig(arguments) { return config.auditLogPath }
        let admin = SocketPaths.adminSocket(socketDir: arguments.value("socket-dir"))
        if let connection = try? BrokerConnection.admin(path: admin, timeoutSeconds: 5),
           let reply = try? connection.request(op: "status"), reply.ok,
           case .object(let audit)? = reply.document["audit"],
           case .string(let span)? = reply.document.member("path", of: audit) {
            return reply.document.string(span)
        }
        return BrokerConfig().auditLogPath
    }

    /// The file named by --config, if any (exit 78 when it does not load).
    static func loadConfig(_ arguments: Arguments) throws(CommandFailure) -> BrokerConfig? {
        guard let file = arguments.value("config") else { return nil }
        do {
            return try ConfigLoader.load(file: file, flags: [], allowUnlockedMemory: false)
        } catch {
            throw CommandFailure(message: error.message, exitCode: 78)
        }
    }
}

struct AuditFilter {
    let since: WallClockTime?
    let project: String?
    let unit: String?
    let decision: String?

    init(_ arguments: Arguments) throws(CommandFailure) {
        project = arguments.value("project")
        unit = arguments.value("unit")
        decision = arguments.value("decision")
        if let decision, decision != "allow", decision != "deny" {
            throw CommandFailure(message: "--decision must be allow or deny", exitCode: 64)
        }
        if let text = arguments.value("since") {
            if let absolute = WallClockTime.parseRFC3339(text) {
                since = absolute
            } else if let seconds = AuditFilter.duration(text) {
                since = WallClockTime(seconds: WallClockTime.now().seconds - seconds)
            } else {
                throw CommandFailure(message: "--since takes a duration (30s, 5m, 2h, 1d) or an RFC 3339 time", exitCode: 64)
            }
        } else {
            since = nil
        }
    }

    /// "90s", "5m", "2h", "1d" → seconds.
    static func duration(_ text: String) -> Int64? {
        guard let unit = text.last, let value = Int64(text.dropLast()), value >= 0 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86_400
        default: return nil
        }
    }

    func matches(_ document: JSONDocument) -> Bool {
        func text(_ key: String) -> String? {
            if case .string(let span)? = document[key] { return document.string(span) }
            return nil
        }
        if let project, text("project") != project { return false }
        if let unit, text("unit") != unit { return false }
        if let decision, text("decision") != decision { return false }
        if let since {
            guard let ts = text("ts").flatMap(WallClockTime.parseRFC3339), ts >= since else { return false }
        }
        return true
    }
}

/// Reads complete lines from the audit file, remembering where it stopped, and follows the
/// file across rotation (moved away → a new file at the same path).
struct AuditReader {
    let path: String
    private var fd: Int32 = -1
    private var pending: [UInt8] = []

    init(path: String) { self.path = path }

    mutating func open() -> Bool {
        fd = Libc.open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0
    }

    /// New complete lines. With `final`, a trailing line without newline is returned too
    /// (it is torn: the writer always ends lines with a newline).
    mutating func readLines(final: Bool) -> [ArraySlice<UInt8>] {
        guard fd >= 0 else { _ = open(); return [] }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            pending += chunk[0..<count]
        }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        while let newline = pending[start...].firstIndex(of: 0x0A) {
            lines.append(pending[start..<newline])
            start = newline + 1
        }
        let rest = Array(pending[start...])
        if final, !rest.isEmpty {
            lines.append(rest[...])
            pending = []
        } else {
            pending = rest
        }
        return lines.map { ArraySlice(Array($0)) }
    }

    /// When the path now names a different file (rotation), finish the old one and switch.
    /// Returns what was still unread in the old file: lines written just before the rename.
    mutating func followRotation() -> [ArraySlice<UInt8>] {
        guard fd >= 0 else { _ = open(); return [] }
        var current = stat(), opened = stat()
        guard stat(path, &current) == 0, fstat(fd, &opened) == 0 else { return [] }
        guard current.st_ino != opened.st_ino || current.st_dev != opened.st_dev else { return [] }
        let rest = readLines(final: true)
        close(fd)
        fd = -1
        pending = []
        _ = open()
        return rest
    }
}

struct AuditPrinter {
    let json: Bool
    static let widths = [28, 21, 16, 20, 9, 12, 16, 10]
    var header: String { row(["TIME", "EVENT", "PROJECT/UNIT", "SECRET", "DECISION", "OUTCOME", "PEER UID/PID", "LATENCY"]) }

    func row(_ columns: [String]) -> String {
        zip(columns, AuditPrinter.widths).map { text, width in
            text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
        }.joined().trimmingTrailingSpaces
    }

    func print(_ line: ArraySlice<UInt8>, filter: AuditFilter) {
        guard let document = try? JSONDocument(parsing: Array(line)), case .object = document.root else {
            // Only its length: a foreign line could hold anything.
            Console.out(json ? "{\"unparseable_line_bytes\":\(line.count)}" : "(torn or foreign line, \(line.count) bytes)")
            return
        }
        guard filter.matches(document) else { return }
        if json {
            Console.out(String(decoding: line, as: UTF8.self))
            return
        }
        func text(_ key: String) -> String {
            switch document[key] {
            case .string(let span)?: return document.string(span)
            case .number(let number)?: return document.int64(number).map(String.init) ?? "?"
            default: return "-"
            }
        }
        let peer = document["peer_uid"] == nil ? "-"
            : document["peer_pid"] == nil ? text("peer_uid") : "\(text("peer_uid"))/\(text("peer_pid"))"
        let latency = document["latency_us"] != nil ? "\(text("latency_us")) µs" : "-"
        Console.out(row([text("ts"), text("event"), document["unit"] != nil ? text("unit") : text("project"), text("secret_name"), text("decision"), text("outcome"), peer, latency]))
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

/// `audit --verify [--config PATH | --state-dir DIR] [FILE...]` (SPEC §11).
enum AuditVerifyCommand {
    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        let current = try AuditCommand.resolvePath(arguments)
        let files = arguments.positionals.isEmpty ? [current] : arguments.positionals
        let stateDir = try resolveStateDir(arguments)
        let headPath = stateDir + "/audit.head"
        // The head applies when the last file is the current log (which may be missing:
        // rotated away, not recreated yet).
        var recorded: AuditChainHead?
        if let last = files.last, sameFile(last, current) {
            recorded = AuditChainHead.read(headPath)
            if recorded == nil {
                Console.error("remo-broker audit: no readable \(headPath): the end of the log is not checked against a head")
            }
        }
        let report = AuditChainVerifier.verify(files: files, recordedHead: recorded, missingAsEmpty: [current])
        for line in report.lines { Console.out(line) }
        return report.passed ? 0 : 1
    }

    /// --state-dir, else state_dir of --config, else the default.
    static func resolveStateDir(_ arguments: Arguments) throws(CommandFailure) -> String {
        if let dir = arguments.value("state-dir") { return dir }
        return try AuditCommand.loadConfig(arguments)?.stateDir ?? BrokerConfig().stateDir
    }

    /// Same path, or the same file under another name.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        var first = stat(), second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }
}
