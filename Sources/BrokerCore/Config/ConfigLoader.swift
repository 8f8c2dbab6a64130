/// Builds a `BrokerConfig`: defaults, then the config file, then command-line flags.
public enum ConfigLoader {
    /// - Parameters:
    ///   - file: `--config PATH` if given (then it must exist), else nil for the default path
    ///     (read only if present).
    ///   - flags: `(key name, value)` pairs from the command line, in order.
    public static func load(file: String?, flags: [(String, String)], allowUnlockedMemory: Bool,
                            environment: Environment = .current) throws(ConfigError) -> BrokerConfig {
        var config = BrokerConfig(environment: environment)
        var explicitKeys = Set(flags.map { $0.0 })
        let path = file ?? DefaultPaths(environment).configFile
        config.configFile = path
        config.configFileRequired = file != nil
        if file != nil || FileSystem.exists(path) {
            let bytes: [UInt8]
            do {
                bytes = try FileSystem.readFile(path, maxBytes: 1 << 20)
            } catch {
                throw ConfigError("cannot read config file \(path): \(error.errnoName)")
            }
            explicitKeys.formUnion(try apply(file: bytes, path: path, to: &config))
        }
        for (name, value) in flags {
            guard let key = ConfigKeys.named(name) else { throw ConfigError("unknown option --\(name.replacingUnderscores)") }
            do {
                try key.apply(&config, .flag(value))
            } catch {
                throw ConfigError("\(key.flag): \(error.message)")
            }
        }
        // The audit log of a non-root broker lives in the state dir unless placed explicitly.
        if !explicitKeys.contains("audit_log_path") {
            config.auditLogPath = DefaultPaths(environment).auditLogPath(stateDir: config.stateDir)
        }
        config.allowUnlockedMemory = allowUnlockedMemory
        return config
    }

    /// The `[units]` tables of the config file `config` was built from, read again (SIGHUP).
    /// Every key is parsed and checked as at start (an unknown key or a bad value refuses the
    /// file); no units when there is no file (the default path, absent). Flags cannot set units.
    public static func reloadUnits(of config: BrokerConfig) throws(ConfigError) -> UnitCredentials {
        guard let path = config.configFile else { return UnitCredentials() }
        guard config.configFileRequired || FileSystem.exists(path) else { return UnitCredentials() }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, maxBytes: 1 << 20)
        } catch {
            throw ConfigError("cannot read config file \(path): \(error.errnoName)")
        }
        return try parse(bytes, path: path).units
    }

    /// A config file's bytes over the defaults, no flags (SIGHUP's reading, the fuzzer's).
    public static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> BrokerConfig {
        var config = BrokerConfig()
        _ = try apply(file: bytes, path: path, to: &config)
        return config
    }

    /// Applies a TOML config file and returns the keys it set. Unknown keys and tables are
    /// errors naming file:line:col.
    static func apply(file bytes: [UInt8], path: String, to config: inout BrokerConfig) throws(ConfigError) -> [String] {
        let table: TOMLTable
        do {
            table = try TOMLReader.parse(bytes)
        } catch {
            throw ConfigError("\(path):\(error.position.line):\(error.position.column): \(error.message)")
        }
        for entry in table.entries {
            if entry.key == "units" {
                config.units = try UnitCredentials.parse(entry, path: path)
                continue
            }
            let at = "\(path):\(entry.position.line):\(entry.position.column)"
            guard let key = ConfigKeys.named(entry.key) else {
                throw ConfigError("\(at): unknown key '\(entry.key)'")
            }
            do {
                try key.apply(&config, .toml(entry.value))
            } catch {
                throw ConfigError("\(at): \(error.message)")
            }
        }
        return table.keys
    }
}
