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
    public var adminSocketMode: UInt32 = 0o660
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

    /// The defaults of SPEC §2 for the environment this process runs in.
    public init(environment: Environment = .current) {
        let paths = DefaultPaths(environment)
        socketDir = paths.socketDir
        stateDir = paths.stateDir
        auditLogPath = paths.auditLogPath(stateDir: paths.stateDir)
    }

    public var adminSocketPath: String { socketDir + "/admin.sock" }
    public var projectsDir: String { socketDir + "/projects" }
    public func projectSocketDir(_ name: String) -> String { projectsDir + "/" + name }
    public func projectSocketPath(_ name: String) -> String { projectSocketDir(name) + "/sock" }
    public var registryPath: String { stateDir + "/registry.json" }
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
