import CSeccomp

/// Everything `serve` is configured with. Built once (defaults < file < flags), then
/// immutable. The keys, their defaults and their help live in one table: `ConfigKeys.all`.
public struct BrokerConfig: Equatable, Sendable {
    public enum HardeningMode: String, Sendable { case strict, bestEffort = "best-effort" }
    public enum SeccompAction: String, Sendable { case kill, log }

    public var socketDir: String
    public var stateDir: String
    public var auditLogPath: String
    public var user: String?
    /// 0660 for a root broker (the packaged service, whose admin group is configured);
    /// 0600 for any other user, whose primary group is usually shared with people who must
    /// not push or register (SPEC §13). An explicit value is honoured either way.
    public var adminSocketMode: UInt32
    public var adminGID: UInt32?
    public var projectSocketMode: UInt32 = 0o660
    /// `project_socket_group` as written: a group name or a gid. Resolved at start by
    /// `resolvingProjectSocketGroup`, which checks it is one of the broker's groups.
    public var projectSocketGroup: String?
    /// The group a project socket and its directory get when `register` names no
    /// `socket_gid` (set by `resolvingProjectSocketGroup`); nil: the group they are created with.
    public var projectSocketGID: UInt32?
    public var cacheDefaultTTLSeconds = 900
    public var cacheDefaultMaxEntries = 32
    public var maxConnections = 1024
    /// Whether `max_connections` was given (file or flag): a default that does not fit under
    /// RLIMIT_NOFILE is lowered at start, a configured value is refused (SPEC §13).
    public var maxConnectionsConfigured = false
    public var maxConnectionsPerProject = 64
    public var idleTimeoutSeconds = 30
    public var rateLimitPerSecond = 50
    public var rateLimitBurst = 100
    public var shutdownDrainSeconds = 5
    public var hardening = HardeningMode.strict
    public var seccomp = SeccompAction.kill
    public var secretArenaBytes = SecretArena.defaultCapacity
    /// Flag only (`--allow-unlocked-memory`): start even if the arena cannot be locked.
    public var allowUnlockedMemory = false
    /// `credentials_socket` when set; the default follows `socket_dir`.
    public var credentialsSocketSetting: String?
    /// `[units."NAME.service"]` tables: what each systemd unit may load (SPEC §12).
    public var units = UnitCredentials()
    /// The config file this was built from, or the default path that was looked for: SIGHUP
    /// reads it again for `[units]`. `configFileRequired`: it was named with `--config`.
    public var configFile: String?
    public var configFileRequired = false

    /// The defaults of SPEC §2 for the environment this process runs in.
    public init(environment: Environment = .current) {
        let paths = DefaultPaths(environment)
        socketDir = paths.socketDir
        stateDir = paths.stateDir
        auditLogPath = paths.auditLogPath(stateDir: paths.stateDir)
        adminSocketMode = paths.isRoot ? 0o660 : 0o600
    }

    public var adminSocketPath: String { socketDir + "/admin.sock" }
    public var projectsDir: String { socketDir + "/projects" }
    public func projectSocketDir(_ name: String) -> String { projectsDir + "/" + name }
    public func projectSocketPath(_ name: String) -> String { projectSocketDir(name) + "/sock" }
    public var registryPath: String { stateDir + "/registry.json" }
    /// Where systemd's `LoadCredential=` connects (only bound while units are configured).
    public var credentialsSocketPath: String { credentialsSocketSetting ?? socketDir + "/credentials.sock" }
    /// Descriptors kept out of `max_connections`: listeners, signalfd, epoll, audit log,
    /// registry and manifest files, the accept-and-close reserve, stdio.
    public static let descriptorReserve = 32

    /// Fits `max_connections` under `descriptorLimit` (RLIMIT_NOFILE): a configured value
    /// that does not fit is an error; the default is lowered, with the warning returned.
    public mutating func fitConnections(toDescriptorLimit descriptorLimit: Int) throws(ConfigError) -> String? {
        let available = descriptorLimit - Self.descriptorReserve
        guard maxConnections > available else { return nil }
        guard !maxConnectionsConfigured, available >= 1 else {
            throw ConfigError("max_connections \(maxConnections) plus \(Self.descriptorReserve) reserved descriptors exceeds "
                + "RLIMIT_NOFILE \(descriptorLimit): lower max_connections to at most \(max(0, available)) "
                + "or raise the limit (LimitNOFILE= in the unit, ulimit -Hn)")
        }
        let warning = "max_connections lowered from \(maxConnections) to \(available) to fit RLIMIT_NOFILE \(descriptorLimit) "
            + "(\(Self.descriptorReserve) descriptors reserved); raise LimitNOFILE= for more"
        maxConnections = available
        return warning
    }

    /// The audit chain's head (SPEC §11).
    public var auditHeadPath: String { stateDir + "/audit.head" }
    public var cacheLimits: ProjectCache.Limits {
        ProjectCache.Limits(ttlSeconds: cacheDefaultTTLSeconds, maxEntries: cacheDefaultMaxEntries)
    }
}

/// What the default paths depend on: effective uid and a few environment variables.
public struct Environment: Sendable {
    public var uid: UInt32
    public var variables: [String: String]

    public init(uid: UInt32, variables: [String: String]) {
        self.uid = uid
        self.variables = variables
    }

    public static var current: Environment {
        var variables: [String: String] = [:]
        for name in ["XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "HOME"] {
            if let value = getenv(name) { variables[name] = String(cString: value) }
        }
        return Environment(uid: geteuid(), variables: variables)
    }

    /// An environment variable if it is set to an absolute path (XDG says relative ones
    /// must be ignored).
    func absolute(_ name: String) -> String? {
        guard let value = variables[name], value.hasPrefix("/") else { return nil }
        return value
    }
}

/// SPEC §2 path defaults.
public struct DefaultPaths: Sendable {
    let environment: Environment

    public init(_ environment: Environment) {
        self.environment = environment
    }

    var isRoot: Bool { environment.uid == 0 }
    var home: String { environment.absolute("HOME") ?? "/" }

    public var socketDir: String {
        if isRoot { return "/run/remo-broker" }
        if let runtime = environment.absolute("XDG_RUNTIME_DIR") { return runtime + "/remo-broker" }
        return "/tmp/remo-broker-\(environment.uid)"
    }

    public var stateDir: String {
        if isRoot { return "/var/lib/remo-broker" }
        return (environment.absolute("XDG_STATE_HOME") ?? home + "/.local/state") + "/remo-broker"
    }

    public func auditLogPath(stateDir: String) -> String {
        isRoot ? "/var/log/remo-broker/audit.log" : stateDir + "/audit.log"
    }

    public var configFile: String {
        if isRoot { return "/etc/remo-broker/config.toml" }
        return (environment.absolute("XDG_CONFIG_HOME") ?? home + "/.config") + "/remo-broker/config.toml"
    }
}
