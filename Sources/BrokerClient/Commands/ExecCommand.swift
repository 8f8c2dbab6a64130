import BrokerCore
import CSeccomp

/// `exec [--retry-seconds 15] [--allow-disk-files] [--socket PATH] -- CMD [ARG...]`: the
/// devcontainer entrypoint. Fetches every binding of the project's manifest (one connection,
/// gets pipelined), sets env vars, writes files onto tmpfs, then becomes CMD with execvp —
/// same pid, CMD's own signals, exit code and terminal. Values never reach argv, stdout or
/// stderr.
enum ExecCommand {
    static func run(_ arguments: Arguments) throws(CommandFailure) -> Int32 {
        if arguments.has("watch") { return try ExecWatch.run(arguments) }
        guard let program = arguments.rest.first else {
            throw CommandFailure(message: "missing the command to run: remo-broker exec [options] -- CMD [ARG...]", exitCode: 64)
        }
        guard arguments.positionals.isEmpty else {
            throw CommandFailure(message: "unexpected argument '\(arguments.positionals[0])' (put the command after --)", exitCode: 64)
        }
        let socket = SocketPaths.projectSocket(socket: arguments.value("socket"))
        let delivery = Delivery(allowDiskFiles: arguments.has("allow-disk-files"))
        var prepared = try firstDelivery(socket: socket, retrySeconds: try retrySeconds(arguments), delivery: delivery, filesOnly: false)
        for index in prepared.indices { prepared[index].zeroize() }
        execute(program, arguments.rest)
    }

    static func retrySeconds(_ arguments: Arguments) throws(CommandFailure) -> Double {
        let retrySeconds = Double(arguments.value("retry-seconds") ?? "15") ?? -1
        guard retrySeconds >= 0 else { throw CommandFailure(message: "--retry-seconds must be a number of seconds", exitCode: 64) }
        return retrySeconds
    }

    /// Fetches every binding (retrying until the deadline), checks and renders them all, then
    /// writes files and sets variables. Returns what it delivered (caller zeroes it).
    static func firstDelivery(socket: String, retrySeconds: Double, delivery: Delivery, filesOnly: Bool) throws(CommandFailure) -> [Delivery.Prepared] {
        var fetched = try fetchAll(socket: socket, retrySeconds: retrySeconds, filesOnly: filesOnly)
        defer { for index in fetched.indices { fetched[index].reply.zeroize() } }
        var prepared: [Delivery.Prepared] = []
        do throws(CommandFailure) {
            for secret in fetched {
                prepared.append(try delivery.prepare(secret))
            }
            try delivery.apply(prepared)
        } catch {
            for index in prepared.indices { prepared[index].zeroize() }
            throw error
        }
        return prepared
    }

    /// One binding and the `get` reply that answered it.
    struct Fetched {
        let binding: Binding
        var reply: Reply
    }

    struct Binding {
        let name: String
        let envVar: String?
        let filePath: String?
        let fileMode: UInt32?
        let template: String?
    }

    /// Fetches every binding, retrying (with backoff) while the socket is absent or a secret
    /// is not pushed yet, until the deadline.
    private static func fetchAll(socket: String, retrySeconds: Double, filesOnly: Bool) throws(CommandFailure) -> [Fetched] {
        let deadline = Monotonic.nanoseconds() + UInt64(retrySeconds * 1e9)
        var pause = 0.1
        while true {
            let missing: [String]
            switch try attempt(socket: socket, filesOnly: filesOnly) {
            case .success(let fetched): return fetched
            case .failure(let waiting): missing = waiting.missing
            }
            if Monotonic.nanoseconds() >= deadline {
                throw CommandFailure(message: "gave up after \(Int(retrySeconds)) s; still missing: \(missing.joined(separator: ", ")); not running the command",
                                     exitCode: 75)
            }
            usleep(useconds_t(pause * 1e6))
            pause = min(pause * 2, 1)
        }
    }

    struct Waiting: Error {
        let missing: [String]
    }

    private static func attempt(socket: String, filesOnly: Bool) throws(CommandFailure) -> Result<[Fetched], Waiting> {
        let connection: BrokerConnection
        do {
            connection = try BrokerConnection(path: socket)
        } catch {
            return .failure(Waiting(missing: ["the broker socket \(socket) (\(error))"]))
        }
        switch try fetch(over: connection, filesOnly: filesOnly) {
        case .failure(let lost): return .failure(lost)
        case .success(var snapshot):
            if snapshot.missing.isEmpty { return .success(snapshot.fetched) }
            snapshot.zeroize()
            return .failure(Waiting(missing: snapshot.missing.map { "\($0.name) (\($0.reason))" }))
        }
    }

    /// Every binding's current value, and the revision it was read at (read before the
    /// gets: a change racing them makes the next `wait` answer at once, never a lost change).
    struct Snapshot {
        var revision: String?
        var fetched: [Fetched]
        var missing: [(name: String, reason: String)]

        mutating func zeroize() {
            for index in fetched.indices { fetched[index].reply.zeroize() }
            fetched = []
        }
    }

    /// `info`, then every `get` pipelined on `connection`. A lost connection is `.failure`;
    /// a refusal other than not pushed / rate limited throws.
    static func fetch(over connection: BrokerConnection, filesOnly: Bool) throws(CommandFailure) -> Result<Snapshot, Waiting> {
        let socket = connection.path
        func lost(_ failure: BrokerConnection.Failure) -> Result<Snapshot, Waiting> {
            .failure(Waiting(missing: ["a reply from \(socket) (\(failure))"]))
        }
        let info: Reply
        do {
            info = try connection.request(op: "info")
        } catch {
            return lost(error)
        }
        guard info.ok else { throw CommandFailure(message: "info: \(info.code ?? "error"): \(info.message ?? "")", exitCode: 1) }
        let bindings = try parseBindings(info).filter { !filesOnly || $0.filePath != nil }
        // Pipelined: every get goes out before the first reply is read.
        var batch: [UInt8] = []
        for binding in bindings {
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("op", "get")
            writer.field("name", binding.name)
            writer.endObject()
            batch += writer.bytes
            batch.append(0x0A)
        }
        do {
            if !batch.isEmpty { try connection.send(batch) }
        } catch {
            return lost(error)
        }
        var fetched: [Fetched] = []
        defer { if !fetched.isEmpty, fetched.count < bindings.count { for index in fetched.indices { fetched[index].reply.zeroize() } } }
        var missing: [(name: String, reason: String)] = []
        for binding in bindings {
            var reply: Reply
            do {
                reply = try connection.receive()
            } catch {
                return lost(error)
            }
            if reply.ok {
                fetched.append(Fetched(binding: binding, reply: reply))
                continue
            }
            let code = reply.code ?? "error"
            let message = reply.message ?? ""
            reply.zeroize()
            switch code {
            case "not_found": missing.append((binding.name, "not pushed"))
            case "rate_limited": missing.append((binding.name, "rate limited"))
            default: throw CommandFailure(message: "get \(binding.name): \(code): \(message)", exitCode: 1)
            }
        }
        let snapshot = Snapshot(revision: info.string("revision"), fetched: fetched, missing: missing)
        fetched = []
        return .success(snapshot)
    }

    private static func parseBindings(_ info: Reply) throws(CommandFailure) -> [Binding] {
        let document = info.document
        guard case .array(let items)? = document["secrets"] else {
            throw CommandFailure(message: "info reply has no secrets list", exitCode: 1)
        }
        return items.compactMap { item -> Binding? in
            guard case .object(let members) = item else { return nil }
            func text(_ key: String) -> String? {
                if case .string(let span)? = document.member(key, of: members) { return document.string(span) }
                return nil
            }
            guard let name = text("name") else { return nil }
            return Binding(name: name, envVar: text("env_var"), filePath: text("file_path"),
                           fileMode: text("file_mode").flatMap(ConfigKeys.parseMode), template: text("template"))
        }
    }

    /// execvp: this process becomes CMD.
    private static func execute(_ program: String, _ argv: [String]) -> Never {
        let cArguments = argv.map { strdup($0) } + [nil]
        execvp(program, cArguments)
        let error = SystemError("execvp", subject: program)
        Console.error("remo-broker exec: cannot run \(program): \(error.errnoName)")
        Console.exit(error.errno == ENOENT ? 127 : 126)
    }
}
