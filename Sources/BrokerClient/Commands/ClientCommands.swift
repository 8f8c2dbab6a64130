import BrokerCore
import CSeccomp

/// The client side of the CLI: status, register, unregister, reload, clear, push, ping,
/// info, get. Exit codes: 0 ok, 1 the broker refused (its error code is on stderr),
/// 64 usage, 66 input file unreadable, 69 broker unreachable.
public enum ClientCommands {
    /// Each command and the options it takes (valued, flags); `--help` everywhere.
    static let options: [String: (valued: Set<String>, flags: Set<String>)] = [
        "status": (["socket-dir"], ["json"]),
        "register": (["socket-dir", "allowed-uid", "socket-gid"], ["json"]),
        "unregister": (["socket-dir"], ["json"]),
        "reload": (["socket-dir"], ["json", "dry-run"]),
        "clear": (["socket-dir"], ["json"]),
        "push": (["socket-dir", "format"], ["json"]),
        "ping": (["socket"], ["json"]),
        "info": (["socket"], ["json"]),
        "get": (["socket"], ["json"]),
        "exec": (["socket", "retry-seconds", "signal", "on-env-change", "grace-seconds"], ["allow-disk-files", "watch"]),
        "sync": (["socket", "retry-seconds"], ["allow-disk-files", "once"]),
        "watch": (["socket-dir", "file", "command", "debounce-ms", "format"], []),
        "audit": (["audit-log", "config", "socket-dir", "since", "project", "unit", "decision", "state-dir"], ["tail", "json", "verify"]),
    ]

    public static var names: Set<String> { Set(options.keys) }

    public static func run(_ command: String, _ arguments: [String]) -> Int32 {
        let parsed: Arguments
        do {
            let accepted = options[command] ?? ([], [])
            parsed = try Arguments(arguments, valued: accepted.valued, flags: accepted.flags.union(["help"]))
        } catch {
            return usage(command, error.message)
        }
        if parsed.has("help") {
            Console.out(CommandHelp.text(for: command))
            return 0
        }
        let context = Context(command: command, arguments: parsed)
        do {
            return try context.run()
        } catch {
            Console.error("remo-broker \(command): \(error)")
            return error.exitCode
        }
    }

    static func usage(_ command: String, _ message: String) -> Int32 {
        Console.error("remo-broker \(command): \(message) (see remo-broker \(command) --help)")
        return 64
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let exitCode: Int32
    var description: String { message }
}

private struct Context {
    let command: String
    let arguments: Arguments

    var json: Bool { arguments.has("json") }

    func positional(_ index: Int, _ what: String) throws(CommandFailure) -> String {
        guard index < arguments.positionals.count else { throw CommandFailure(message: "missing \(what)", exitCode: 64) }
        return arguments.positionals[index]
    }

    func expectPositionals(_ count: Int) throws(CommandFailure) {
        guard arguments.positionals.count <= count else {
            throw CommandFailure(message: "unexpected argument '\(arguments.positionals[count])'", exitCode: 64)
        }
    }

    func connect(admin: Bool) throws(CommandFailure) -> BrokerConnection {
        let path = admin ? SocketPaths.adminSocket(socketDir: arguments.value("socket-dir"))
                         : SocketPaths.projectSocket(socket: arguments.value("socket"))
        do {
            return admin ? try BrokerConnection.admin(path: path) : try BrokerConnection(path: path)
        } catch {
            throw CommandFailure(message: "\(path): \(error)", exitCode: 69)
        }
    }

    /// Sends and checks the reply; prints it raw with --json.
    func exchange(_ request: JSONWriter, admin: Bool) throws(CommandFailure) -> Reply {
        let connection = try connect(admin: admin)
        let reply: Reply
        do {
            reply = try connection.request(request)
        } catch {
            throw CommandFailure(message: "\(connection.path): \(error)", exitCode: 69)
        }
        if json { Console.out(reply.text) }
        guard reply.ok else {
            throw CommandFailure(message: "\(reply.code ?? "error"): \(reply.message ?? "no message")", exitCode: 1)
        }
        return reply
    }

    func simple(_ op: String, _ fields: [(String, String)] = [], admin: Bool) throws(CommandFailure) -> Reply {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", op)
        for (key, value) in fields { writer.field(key, value) }
        writer.endObject()
        return try exchange(writer, admin: admin)
    }

    func run() throws(CommandFailure) -> Int32 {
        switch command {
        case "status":
            try expectPositionals(0)
            let reply = try simple("status", admin: true)
            if !json { Console.out(StatusFormatter.format(reply)) }
        case "register":
            try expectPositionals(2)
            let name = try positional(0, "NAME")
            let path = try positional(1, "PATH")
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("op", "register")
            writer.field("name", name)
            writer.field("project_path", path.hasPrefix("/") ? path : FileSystem.currentDirectory() + "/" + path)
            let uids = arguments.values("allowed-uid")
            if !uids.isEmpty {
                writer.key("allowed_uids")
                writer.beginArray()
                for uid in uids {
                    guard let value = UInt32(uid) else { throw CommandFailure(message: "--allowed-uid \(uid) is not a uid", exitCode: 64) }
                    writer.int(Int(value))
                }
                writer.endArray()
            }
            if let gid = arguments.value("socket-gid") {
                guard let value = UInt32(gid) else { throw CommandFailure(message: "--socket-gid \(gid) is not a gid", exitCode: 64) }
                writer.field("socket_gid", Int(value))
            }
            writer.endObject()
            let reply = try exchange(writer, admin: true)
            if !json { Console.out("registered \(name): \(reply.string("socket_path") ?? "?")") }
        case "unregister":
            try expectPositionals(1)
            let name = try positional(0, "NAME")
            _ = try simple(command, [("name", name)], admin: true)
            if !json { Console.out("unregistered \(name)") }
        case "reload":
            try expectPositionals(1)
            let name = try positional(0, "NAME")
            let dryRun = arguments.has("dry-run")
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("op", "reload")
            writer.field("name", name)
            if dryRun { writer.field("dry_run", true) }
            writer.endObject()
            let reply = try exchange(writer, admin: true)
            if !json { Console.out(StatusFormatter.formatReload(reply, project: name, dryRun: dryRun)) }
        case "clear":
            try expectPositionals(0)
            _ = try simple("clear-creds", admin: true)
            if !json { Console.out("cleared all secrets") }
        case "push":
            try expectPositionals(1)
            try PushCommand.run(source: arguments.positionals.first ?? "-", format: arguments.value("format"),
                                context: { request throws(CommandFailure) in try exchange(request, admin: true) }, json: json)
        case "ping":
            try expectPositionals(0)
            let reply = try simple("ping", admin: false)
            if !json {
                Console.out("ok: project \(reply.string("project") ?? "?"), broker \(reply.string("broker_version") ?? "?"), protocol \(reply.int("protocol_version") ?? 0)")
            }
        case "info":
            try expectPositionals(0)
            let reply = try simple("info", admin: false)
            if !json { Console.out(StatusFormatter.formatInfo(reply)) }
        case "exec":
            return try ExecCommand.run(arguments)
        case "sync":
            try expectPositionals(0)
            return try SyncCommand.run(arguments)
        case "watch":
            try expectPositionals(0)
            return try WatchCommand.run(arguments)
        case "audit":
            if arguments.has("verify") { return try AuditVerifyCommand.run(arguments) }
            try expectPositionals(0)
            return try AuditCommand.run(arguments)
        case "get":
            try expectPositionals(1)
            let name = try positional(0, "NAME")
            var reply = try simple("get", [("name", name)], admin: false)
            if !json { GetPrinter.print(reply) }
            reply.zeroize()
        default:
            throw CommandFailure(message: "unknown command", exitCode: 64)
        }
        return 0
    }
}
