import BrokerCore
import Glibc
import Testing

@Suite struct ConfigTests {
    let user = Environment(uid: 1000, variables: ["HOME": "/home/dev", "XDG_RUNTIME_DIR": "/run/user/1000"])
    let root = Environment(uid: 0, variables: ["HOME": "/root"])

    @Test func defaultPathsFollowSpecSection2() {
        let userDefaults = BrokerConfig(environment: user)
        #expect(userDefaults.socketDir == "/run/user/1000/remo-broker")
        #expect(userDefaults.stateDir == "/home/dev/.local/state/remo-broker")
        #expect(userDefaults.auditLogPath == "/home/dev/.local/state/remo-broker/audit.log")
        #expect(DefaultPaths(user).configFile == "/home/dev/.config/remo-broker/config.toml")
        let noRuntime = BrokerConfig(environment: Environment(uid: 1000, variables: ["HOME": "/h", "XDG_RUNTIME_DIR": "relative"]))
        #expect(noRuntime.socketDir == "/tmp/remo-broker-1000")
        let rootDefaults = BrokerConfig(environment: root)
        #expect(rootDefaults.socketDir == "/run/remo-broker")
        #expect(rootDefaults.stateDir == "/var/lib/remo-broker")
        #expect(rootDefaults.auditLogPath == "/var/log/remo-broker/audit.log")
        #expect(rootDefaults.adminSocketPath == "/run/remo-broker/admin.sock")
        #expect(rootDefaults.projectSocketPath("p") == "/run/remo-broker/projects/p/sock")
    }

    @Test func flagsBeatFileBeatDefaults() throws {
        let file = try writeTemp("max_connections = 10\nidle_timeout_seconds = 7\nproject_socket_mode = \"0640\"\n")
        let config = try ConfigLoader.load(file: file, flags: [("idle_timeout_seconds", "3")], allowUnlockedMemory: true, environment: user)
        #expect(config.maxConnections == 10)
        #expect(config.idleTimeoutSeconds == 3)
        #expect(config.projectSocketMode == 0o640)
        #expect(config.rateLimitBurst == 100)
        #expect(config.allowUnlockedMemory)
    }

    @Test func auditLogFollowsStateDirUnlessSet() throws {
        let moved = try ConfigLoader.load(file: nil, flags: [("state_dir", "/srv/state")], allowUnlockedMemory: false, environment: user)
        #expect(moved.auditLogPath == "/srv/state/audit.log")
        let pinned = try ConfigLoader.load(file: nil, flags: [("state_dir", "/srv/state"), ("audit_log_path", "/var/a.log")],
                                           allowUnlockedMemory: false, environment: user)
        #expect(pinned.auditLogPath == "/var/a.log")
    }

    @Test func unknownKeyIsAnErrorNamingFileLineAndColumn() throws {
        let file = try writeTemp("max_connections = 10\n  colour = \"blue\"\n")
        #expect(throws: ConfigError("\(file):2:3: unknown key 'colour'")) {
            try ConfigLoader.load(file: file, flags: [], allowUnlockedMemory: false, environment: user)
        }
    }

    @Test func badValuesAreRejectedWithTheKeyNamed() throws {
        for (text, fragment) in [("max_connections = 0", "max_connections must be an integer in 1..65536"),
                                 ("hardening = \"sometimes\"", "hardening must be one of strict|best-effort"),
                                 ("admin_socket_mode = \"0666\"", "admin_socket_mode must be a four-digit octal mode"),
                                 ("socket_dir = \"relative\"", "socket_dir must be an absolute path"),
                                 ("rate_limit_burst = \"5\"", "rate_limit_burst must be an integer, not string")] {
            let file = try writeTemp(text + "\n")
            do {
                _ = try ConfigLoader.load(file: file, flags: [], allowUnlockedMemory: false, environment: user)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
        #expect(throws: ConfigError("unknown option --colour")) {
            try ConfigLoader.load(file: nil, flags: [("colour", "x")], allowUnlockedMemory: false, environment: user)
        }
    }

    @Test func projectSocketGroupTakesANameOrAGid() throws {
        #expect(try ConfigLoader.load(file: nil, flags: [], allowUnlockedMemory: false, environment: user).projectSocketGroup == nil)
        for (text, expected) in [("project_socket_group = \"remo-broker-users\"", "remo-broker-users"),
                                 ("project_socket_group = 990", "990")] {
            let file = try writeTemp(text + "\n")
            #expect(try ConfigLoader.load(file: file, flags: [], allowUnlockedMemory: false, environment: user).projectSocketGroup == expected)
        }
        let flagged = try ConfigLoader.load(file: nil, flags: [("project_socket_group", "devs")], allowUnlockedMemory: false, environment: user)
        #expect(flagged.projectSocketGroup == "devs")
        // Only resolved (and checked against the broker's groups) when serve starts.
        #expect(flagged.projectSocketGID == nil)
        for bad in ["project_socket_group = \"\"", "project_socket_group = \"a:b\"", "project_socket_group = -1",
                    "project_socket_group = true"] {
            let file = try writeTemp(bad + "\n")
            do {
                _ = try ConfigLoader.load(file: file, flags: [], allowUnlockedMemory: false, environment: user)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.message.contains("project_socket_group must be"), "\(error.message)")
            }
        }
    }

    @Test func missingNamedFileIsAnError() {
        do {
            _ = try ConfigLoader.load(file: "/nonexistent/remo.toml", flags: [], allowUnlockedMemory: false, environment: user)
            Issue.record("accepted a missing --config file")
        } catch {
            #expect(error.message.contains("/nonexistent/remo.toml"))
        }
    }

    @Test func everyKeyHasAFlagAndADefault() {
        let defaults = BrokerConfig(environment: root)
        for key in ConfigKeys.all {
            #expect(key.flag.hasPrefix("--") && !key.flag.contains("_"))
            #expect(!key.defaultValue(in: defaults).isEmpty)
        }
        #expect(ConfigKeys.all.count == Set(ConfigKeys.all.map(\.name)).count)
    }
}

/// A temp file holding `text` (the config and /etc/group tests share it).
func writeTemp(_ text: String) throws -> String {
    var template = Array("/tmp/remo-config-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    _ = text.utf8CString.dropLast().withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    return path
}
