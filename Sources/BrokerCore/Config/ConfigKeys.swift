/// The one table of configuration keys: TOML key, flag, default, help, and how to apply a
/// value. `serve --help` and the docs are generated from it.
public struct ConfigKey: Sendable {
    public let name: String
    public let placeholder: String
    public let help: String
    let defaultText: @Sendable (BrokerConfig) -> String
    let apply: @Sendable (inout BrokerConfig, ConfigValue) throws(ConfigError) -> Void

    /// `--socket-dir` for `socket_dir`.
    public var flag: String { "--" + name.replacingUnderscores }

    public func defaultValue(in config: BrokerConfig) -> String { defaultText(config) }
}

/// A value for one key, from the config file or the command line.
public enum ConfigValue: Sendable {
    case toml(TOMLValue)
    case flag(String)
}

public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}

public enum ConfigKeys {
    public static let all: [ConfigKey] = [
        path("socket_dir", "directory for admin.sock and projects/<name>/sock", Field({ $0.socketDir }, { $0.socketDir = $1 })),
        path("state_dir", "directory for the project registry (never secrets)", Field({ $0.stateDir }, { $0.stateDir = $1 })),
        path("audit_log_path", "audit log file (JSON lines)", Field({ $0.auditLogPath }, { $0.auditLogPath = $1 })),
        ConfigKey(name: "user", placeholder: "USER[:GROUP]",
                  help: "when started as root, switch to this user after binding (resolved from /etc/passwd; a uid without an entry needs :GID)",
                  defaultText: { $0.user ?? "(none)" },
                  apply: { config, value throws(ConfigError) in config.user = try string(value, "user") }),
        mode("admin_socket_mode", "permissions of admin.sock", Field({ $0.adminSocketMode }, { $0.adminSocketMode = $1 })),
        ConfigKey(name: "admin_gid", placeholder: "GID", help: "group of admin.sock (the broker's own group or one of its groups)",
                  defaultText: { $0.adminGID.map(String.init) ?? "(broker's group)" },
                  apply: { config, value throws(ConfigError) in config.adminGID = UInt32(try integer(value, "admin_gid", 0...4_294_967_294)) }),
        mode("project_socket_mode", "permissions of each project socket", Field({ $0.projectSocketMode }, { $0.projectSocketMode = $1 })),
        ConfigKey(name: "project_socket_group", placeholder: "GROUP",
                  help: "group of a project socket and its directory when register names no socket_gid: a name from /etc/group "
                      + "or a gid, the broker's own group or one of its groups (checked at start)",
                  defaultText: { $0.projectSocketGroup ?? "(broker's group)" },
                  apply: { config, value throws(ConfigError) in config.projectSocketGroup = try group(value, "project_socket_group") }),
        int("cache_default_ttl_seconds", "per-project cache TTL; manifests may only lower it", Field({ $0.cacheDefaultTTLSeconds }, { $0.cacheDefaultTTLSeconds = $1 }), 1...86400),
        int("cache_default_max_entries", "per-project cache size; manifests may only lower it", Field({ $0.cacheDefaultMaxEntries }, { $0.cacheDefaultMaxEntries = $1 }), 1...1024),
        ConfigKey(name: "max_connections", placeholder: "N",
                  help: "connections across all sockets, admin included (1..65536); plus 32 must fit under RLIMIT_NOFILE: "
                      + "a configured value that does not is refused, the default is lowered to fit",
                  defaultText: { String($0.maxConnections) },
                  apply: { config, value throws(ConfigError) in
                      config.maxConnections = try integer(value, "max_connections", 1...65536)
                      config.maxConnectionsConfigured = true
                  }),
        int("max_connections_per_project", "connections per project socket", Field({ $0.maxConnectionsPerProject }, { $0.maxConnectionsPerProject = $1 }), 1...65536),
        int("idle_timeout_seconds", "close a connection idle (or stalled mid-line) this long", Field({ $0.idleTimeoutSeconds }, { $0.idleTimeoutSeconds = $1 }), 1...86400),
        int("rate_limit_per_second", "per-project get rate (token bucket refill)", Field({ $0.rateLimitPerSecond }, { $0.rateLimitPerSecond = $1 }), 1...1_000_000),
        int("rate_limit_burst", "per-project get burst (token bucket size)", Field({ $0.rateLimitBurst }, { $0.rateLimitBurst = $1 }), 1...1_000_000),
        int("shutdown_drain_seconds", "on SIGTERM, wait this long for in-flight replies", Field({ $0.shutdownDrainSeconds }, { $0.shutdownDrainSeconds = $1 }), 0...3600),
        choice("hardening", "strict|best-effort", "strict: any failed hardening step is fatal; best-effort: warn and go on", Field({ $0.hardening }, { $0.hardening = $1 })),
        choice("seccomp", "kill|log", "what the seccomp filter does with a forbidden syscall", Field({ $0.seccomp }, { $0.seccomp = $1 })),
        path("credentials_socket", "socket systemd's LoadCredential= reads [units] secrets from (mode 0600; only while units are configured)",
             Field({ $0.credentialsSocketPath }, { $0.credentialsSocketSetting = $1 })),
        int("secret_arena_bytes", "size of the locked secret memory", Field({ $0.secretArenaBytes }, { $0.secretArenaBytes = $1 }), 4096...(1 << 30)),
    ]

    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }

    // MARK: key kinds

    /// Reads and writes one `BrokerConfig` property (a key path would do, but Embedded Swift,
    /// the shipped binary's mode, has none).
    struct Field<Value>: Sendable {
        let get: @Sendable (BrokerConfig) -> Value
        let set: @Sendable (inout BrokerConfig, Value) -> Void

        init(_ get: @escaping @Sendable (BrokerConfig) -> Value, _ set: @escaping @Sendable (inout BrokerConfig, Value) -> Void) {
            self.get = get
            self.set = set
        }
    }

    private static func path(_ name: String, _ help: String, _ field: Field<String>) -> ConfigKey {
        ConfigKey(name: name, placeholder: "PATH", help: help, defaultText: { field.get($0) },
                  apply: { config, value throws(ConfigError) in
                      let path = try string(value, name)
                      guard path.hasPrefix("/") else { throw ConfigError("\(name) must be an absolute path") }
                      field.set(&config, path)
                  })
    }

    private static func int(_ name: String, _ help: String, _ field: Field<Int>,
                            _ range: ClosedRange<Int>) -> ConfigKey {
        ConfigKey(name: name, placeholder: "N", help: "\(help) (\(range.lowerBound)..\(range.upperBound))",
                  defaultText: { String(field.get($0)) },
                  apply: { config, value throws(ConfigError) in field.set(&config, try integer(value, name, range)) })
    }

    private static func mode(_ name: String, _ help: String, _ field: Field<UInt32>) -> ConfigKey {
        ConfigKey(name: name, placeholder: "MODE", help: "\(help) (four-digit octal)",
                  defaultText: { octal(field.get($0)) },
                  apply: { config, value throws(ConfigError) in
                      let text = try string(value, name)
                      guard let mode = parseMode(text), mode & 0o007 == 0 else {
                          throw ConfigError("\(name) must be a four-digit octal mode with no access for others, like \"0660\"")
                      }
                      field.set(&config, mode)
                  })
    }

    private static func choice<T: RawRepresentable & Sendable>(
        _ name: String, _ placeholder: String, _ help: String, _ field: Field<T>
    ) -> ConfigKey where T.RawValue == String {
        ConfigKey(name: name, placeholder: placeholder, help: help, defaultText: { field.get($0).rawValue },
                  apply: { config, value throws(ConfigError) in
                      let text = try string(value, name)
                      guard let parsed = T(rawValue: text) else { throw ConfigError("\(name) must be one of \(placeholder)") }
                      field.set(&config, parsed)
                  })
    }

    // MARK: value conversion

    static func string(_ value: ConfigValue, _ name: String) throws(ConfigError) -> String {
        switch value {
        case .flag(let text): return text
        case .toml(.string(let text)): return text
        case .toml(let other): throw ConfigError("\(name) must be a string, not \(other.typeName)")
        }
    }

    /// A group name or a gid: a string, or a TOML integer.
    static func group(_ value: ConfigValue, _ name: String) throws(ConfigError) -> String {
        if case .toml(.integer) = value { return String(try integer(value, name, 0...4_294_967_294)) }
        let text = try string(value, name)
        guard !text.isEmpty, !text.utf8.contains(UInt8(ascii: ":")), !text.utf8.contains(0x0A) else {
            throw ConfigError("\(name) must be a group name or a gid")
        }
        return text
    }

    static func integer(_ value: ConfigValue, _ name: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let parsed: Int?
        switch value {
        case .flag(let text): parsed = Int(text)
        case .toml(.integer(let number)): parsed = Int(exactly: number)
        case .toml(let other): throw ConfigError("\(name) must be an integer, not \(other.typeName)")
        }
        guard let parsed, range.contains(parsed) else {
            throw ConfigError("\(name) must be an integer in \(range.lowerBound)..\(range.upperBound)")
        }
        return parsed
    }

    /// "0660" → 0o660. Exactly four octal digits, no setuid/setgid/sticky bits.
    public static func parseMode(_ text: String) -> UInt32? {
        let bytes = Array(text.utf8)
        guard bytes.count == 4, bytes[0] == UInt8(ascii: "0"),
              bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") })
        else { return nil }
        return bytes.reduce(0) { $0 * 8 + UInt32($1 - UInt8(ascii: "0")) }
    }

    public static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
