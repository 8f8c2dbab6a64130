import BrokerCore

/// `remo-broker serve`: option parsing and help; the daemon itself is `Daemon.run`.
public enum ServeCommand {
    public static func run(_ arguments: [String]) -> Int32 {
        let configFlags = Set(ConfigKeys.all.map { $0.flag.dropFirst(2) }.map(String.init))
        let parsed: Arguments
        do {
            parsed = try Arguments(arguments, valued: configFlags.union(["config"]).union(debugOptions),
                                   flags: ["allow-unlocked-memory", "help"])
        } catch {
            Console.error("remo-broker serve: \(error.message) (see remo-broker serve --help)")
            return 64
        }
        if parsed.has("help") {
            Console.out(help)
            return 0
        }
        guard parsed.positionals.isEmpty else {
            Console.error("remo-broker serve: unexpected argument '\(parsed.positionals[0])'")
            return 64
        }
        let flags = parsed.valuedOptions.filter { $0.0 != "config" && !debugOptions.contains($0.0) }.map { (String($0.0.map { $0 == "-" ? "_" : $0 }), $0.1) }
        let config: BrokerConfig
        do {
            config = try ConfigLoader.load(file: parsed.value("config"), flags: flags,
                                           allowUnlockedMemory: parsed.has("allow-unlocked-memory"))
        } catch {
            Console.error("remo-broker serve: \(error.message)")
            return 78  // EX_CONFIG
        }
        #if DEBUG || REMO_DEBUG_ATTEMPT
        if let name = parsed.value("debug-attempt") {
            guard let operation = ForbiddenOperation(rawValue: name) else {
                Console.error("remo-broker serve: --debug-attempt must be one of "
                    + ForbiddenOperation.allCases.map { $0.rawValue }.joined(separator: ", "))
                return 64
            }
            return Daemon.run(config, afterHardening: { operation.attempt() })
        }
        #endif
        return Daemon.run(config)
    }

    /// Hidden options of debug builds only; a release build rejects them as unknown.
    #if DEBUG || REMO_DEBUG_ATTEMPT
    static let debugOptions: Set<String> = ["debug-attempt"]
    #else
    static let debugOptions: Set<String> = []
    #endif

    public static var help: String {
        let defaults = BrokerConfig()
        let options: [(left: String, help: String)] = [
            ("--config PATH", "config file (default \(DefaultPaths(.current).configFile), read if present)"),
            ("--allow-unlocked-memory", "start even if secret memory cannot be locked (mlock)"),
        ] + ConfigKeys.all.map {
            ("\($0.flag) \($0.placeholder)", $0.help + " [default: \($0.defaultValue(in: defaults))]")
        }
        // One column for every description, wide enough for the longest flag.
        let width = options.map { $0.left.count }.max()! + 2
        var lines = [
            "usage: remo-broker serve [--config PATH] [options]",
            "",
            "Runs the broker: binds the admin socket and every registered project's socket, locks",
            "secret memory, and serves until SIGTERM/SIGINT.",
            "",
            "options (each is also a key in the TOML config file, with _ for -; flags win over the file):",
        ]
        for option in options {
            lines.append("  " + option.left + String(repeating: " ", count: width - option.left.count) + option.help)
        }
        lines += [
            "",
            "Config file only: [units.\"NAME.service\"] secrets = [\"gh\", ...] tables let that systemd unit load",
            "those secrets with LoadCredential=ID:<credentials socket>. SIGHUP (systemctl reload) re-reads them;",
            "a file that does not load keeps the tables in force. See docs/operations.md.",
        ]
        return lines.joined(separator: "\n")
    }
}
