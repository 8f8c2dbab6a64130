import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// Secrets for systemd services (SPEC §12): the tests play systemd's part of
/// `LoadCredential=ID:<credentials_socket>` (bind `\0<random>/unit/<unit>/<ID>`, connect as
/// root, read to EOF), and run the same client as other uids through setpriv.
@Suite(.enabled(if: geteuid() == 0, "needs root: systemd's side of LoadCredential= connects as uid 0"))
struct UnitCredentialTests {
    static let unit = "credprobe.service"
    static let units = """
        [units."credprobe.service"]
        secrets = ["gh", "aws", "big", "unpushed"]

        [units."other.service"]
        secrets = ["npm"]
        """

    /// A broker whose config is `config` (units included), with `gh`, `aws` and `big` pushed.
    static func broker(config: String = units, arguments: [String] = []) throws -> BrokerProcess {
        let root = try TempDirectory(prefix: "rbu")
        let path = try root.write("config.toml", config)
        let broker = try BrokerProcess(binary: TestBinary.path, arguments: ["--config", path] + arguments, root: root)
        try broker.start()
        return broker
    }

    static let scalar = secret("gh") + "\nsecond line ✓ \"quoted\" \\ "
    static let bigValue = secret("big") + String(repeating: "0123456789abcdef", count: 40_000)

    static func pushAll(_ broker: BrokerProcess) throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("gh", scalar)
        writer.key("aws")
        writer.beginObject()
        writer.field("aws_access_key_id", secret("aws_id"))
        writer.field("aws_secret_access_key", secret("aws_key") + "\"/\n")
        writer.endObject()
        writer.field("big", bigValue)
        writer.field("npm", secret("npm"))
        writer.endObject()
        try broker.push(json: String(decoding: writer.bytes, as: UTF8.self))
    }

    static func load(_ broker: BrokerProcess, unit: String? = unit, _ id: String) throws -> [UInt8] {
        switch try SystemdCredentialClient.load(socket: broker.socketDir + "/credentials.sock", unit: unit, id: id) {
        case .received(let bytes): return bytes
        case .connectFailed(let code): throw SystemError("connect", errno: code, subject: "credentials.sock")
        }
    }

    static func fetchEvents(_ broker: BrokerProcess, count: Int) -> [JSONTree] {
        _ = AuditLogReader.waitForFetches(broker.auditLogPath, atLeast: count)
        return broker.auditEvents().filter { $0.event == "fetch" }
    }

    @Test func servesScalarsFieldsAndBundlesAsExactBytes() throws {
        let broker = try Self.broker()
        try Self.pushAll(broker)
        #expect(try Self.load(broker, "gh") == Array(Self.scalar.utf8), "a scalar is its exact bytes")
        #expect(try Self.load(broker, "aws.aws_access_key_id") == Array(secret("aws_id").utf8), "one field of a bundle")
        let bundle = "{\"aws_access_key_id\":\"\(secret("aws_id"))\",\"aws_secret_access_key\":\"\(secret("aws_key"))\\\"/\\n\"}"
        #expect(try Self.load(broker, "aws") == Array(bundle.utf8), "a bundle is its compact JSON object")
        #expect(try Self.load(broker, "big") == Array(Self.bigValue.utf8), "640 KB: more than a socket buffer, arrives whole")

        let fetches = Self.fetchEvents(broker, count: 4)
        #expect(fetches.map { $0["secret_name"]?.string } == ["gh", "aws.aws_access_key_id", "aws", "big"])
        for event in fetches {
            #expect(event["unit"]?.string == Self.unit)
            #expect(event["project"] == nil)
            #expect(event["decision"]?.string == "allow" && event["outcome"]?.string == "ok")
            #expect(event["peer_uid"]?.int == 0 && event["peer_pid"]?.int == Int(getpid()))
            #expect(event["latency_us"]?.int != nil)
        }
        let status = try broker.status()
        #expect(status["credentials_socket"]?.string == broker.socketDir + "/credentials.sock")
        #expect(status["units"]?.array?.map { $0["name"]?.string } == ["credprobe.service", "other.service"])
        #expect(status["units"]?.array?.first?["secrets"]?.strings == ["aws", "big", "gh", "unpushed"])
        try broker.stop()
        expectNoSecret(broker.auditLines().joined(separator: "\n"), "the audit log")
        expectNoSecret(broker.stderrText, "the broker's stderr")
        #expect(!FileSystem.exists(broker.socketDir + "/credentials.sock"), "removed at stop")
    }

    @Test func everythingElseClosesWithoutAByteAndIsAudited() throws {
        let broker = try Self.broker()
        try Self.pushAll(broker)
        let cases: [(id: String, unit: String, logged: String, outcome: String)] = [
            ("npm", Self.unit, "npm", "denied"),                 // pushed, listed for another unit only
            ("gh", "unlisted.service", "gh", "denied"),          // a unit with no table
            ("unpushed", Self.unit, "unpushed", "not_found"),    // listed, not pushed
            ("aws.nope", Self.unit, "aws.nope", "not_found"),    // no such field
            ("gh.field", Self.unit, "gh.field", "not_found"),    // a scalar has no fields
            ("a.b.c", Self.unit, "<invalid>", "denied"),         // not name or name.field
        ]
        for entry in cases {
            #expect(try Self.load(broker, unit: entry.unit, entry.id).isEmpty, "\(entry.unit) \(entry.id): nothing written")
        }
        let fetches = Self.fetchEvents(broker, count: cases.count)
        #expect(fetches.count == cases.count)
        for (entry, event) in zip(cases, fetches) {
            #expect(event["unit"]?.string == entry.unit && event["secret_name"]?.string == entry.logged, "\(event)")
            #expect(event["outcome"]?.string == entry.outcome, "\(event)")
            #expect(event["decision"]?.string == (entry.outcome == "denied" ? "deny" : "allow"), "\(event)")
            #expect(event["reason"]?.string == (entry.outcome == "denied" ? "not_in_allowlist" : nil), "\(event)")
        }

        // No unit address at all: a peer, not a fetch.
        #expect(try Self.load(broker, unit: nil, "gh").isEmpty)
        let unexpected = broker.waitForAuditEvent { $0.event == "peer.unexpected" }
        #expect(unexpected?["socket"]?.string == "credentials" && unexpected?["project"] == nil, "\(unexpected.map { "\($0)" } ?? "none")")
        #expect(unexpected?["peer_uid"]?.int == 0)
        #expect(broker.auditEvents().filter { $0.event == "fetch" }.count == cases.count)
        try broker.stop()
        expectNoSecret(broker.auditLines().joined(separator: "\n"), "the audit log")
    }

    /// The socket is 0600 and the broker's own user's; root is the only peer served: the
    /// broker's user itself (which can connect) gets nothing, any other uid cannot connect.
    @Test func onlyRootIsServedFromAnOwnerOnlySocket() throws {
        let root = try TempDirectory(prefix: "rbu")
        let config = try root.write("config.toml", Self.units)
        let broker = try LaunchedBroker(["--user", "nobody", "--config", config], root: root)
        try broker.start()
        let layout = broker.layout
        try Self.pushAll(layout)
        let socket = layout.socketDir + "/credentials.sock"
        var info = stat()
        #expect(lstat(socket, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600 && info.st_uid == 65534, "mode \(String(info.st_mode & 0o7777, radix: 8)) uid \(info.st_uid)")

        let probe = TestBinary.harness("CredentialProbe")
        let owner = try CommandRunner.run(probe, [socket, Self.unit, "gh"], as: .init(uid: 65534, gid: 65534))
        #expect(owner.stdoutText == "received 0 bytes\n", "\(owner)")
        let stranger = try CommandRunner.run(probe, [socket, Self.unit, "gh"], as: .init(uid: 4242, gid: 4242))
        #expect(stranger.stdoutText == "connect failed: Permission denied\n", "\(stranger)")
        let asRoot = try CommandRunner.run(probe, [socket, Self.unit, "gh"])
        #expect(asRoot.stdoutText == "received \(Self.scalar.utf8.count) bytes\n", "\(asRoot)")

        let refused = layout.waitForAuditEvent { $0.event == "peer.unexpected" }
        #expect(refused?["socket"]?.string == "credentials" && refused?["peer_uid"]?.int == 65534, "\(refused.map { "\($0)" } ?? "none")")
        let fetches = Self.fetchEvents(layout, count: 1)
        #expect(fetches.count == 1 && fetches.first?["peer_uid"]?.int == 0, "only root's request is a fetch")
        #expect(try broker.stop().exitCode == 0, "\(broker.stderrText)")
    }

    /// SIGHUP re-reads `[units]`: the socket appears with the first unit and goes with the
    /// last; a config that does not load keeps the tables in force. Under the seccomp filter
    /// (kill), so every syscall of the reload is in the allowlist.
    @Test func sighupReloadsUnitsAndKeepsThemWhenTheFileIsBad() throws {
        let broker = try Self.broker(config: "# no units yet\n")
        let configPath = broker.root.file("config.toml")
        let socket = broker.socketDir + "/credentials.sock"
        #expect(!FileSystem.exists(socket), "no units, no socket")
        #expect(try broker.status()["credentials_socket"]?.isNull == true)
        try Self.pushAll(broker)

        func hangUp(_ text: String, expecting line: String) throws {
            _ = try broker.root.write("config.toml", text)
            let before = broker.stderrText.ranges(of: line).count
            broker.child?.signal(SIGHUP)
            let deadline = Monotonic.nanoseconds() + 10 * Monotonic.nanosecondsPerSecond
            while broker.stderrText.ranges(of: line).count == before, Monotonic.nanoseconds() < deadline { usleep(10_000) }
            #expect(broker.stderrText.ranges(of: line).count > before, "no \"\(line)\" in: \(broker.stderrText)")
        }

        try hangUp(Self.units, expecting: "[units] reloaded from \(configPath): 2 unit(s), changed: credprobe.service, other.service")
        #expect(FileSystem.exists(socket))
        #expect(try Self.load(broker, "gh") == Array(Self.scalar.utf8))

        try hangUp("bogus = 1\n" + Self.units, expecting: "config not reloaded, 2 unit(s) stay in force: \(configPath):1:1: unknown key 'bogus'")
        #expect(try Self.load(broker, "gh") == Array(Self.scalar.utf8), "the old tables stay in force")

        try hangUp("[units.\"credprobe.service\"]\nsecrets = [\"aws\"]\n", expecting: "1 unit(s), changed: credprobe.service, other.service")
        #expect(try Self.load(broker, "gh").isEmpty, "gh is no longer listed")
        #expect(try Self.load(broker, "aws.aws_access_key_id") == Array(secret("aws_id").utf8))

        try hangUp("", expecting: "0 unit(s), changed: credprobe.service")
        #expect(!FileSystem.exists(socket), "the last unit gone, the socket goes too")
        #expect(try broker.status()["units"]?.array?.isEmpty == true)
        #expect(broker.child.map { kill($0.pid, 0) == 0 } == true, "still serving after four SIGHUPs")
        #expect(try broker.stop().exitCode == 0)
        #expect(!broker.stderrText.contains("SIGSYS"))
    }

    /// A start with units binds the socket before anything is served; a bad table stops
    /// the start with the file, line and column.
    @Test func badUnitsTableStopsTheStartNamingTheLine() throws {
        let root = try TempDirectory(prefix: "rbu")
        let path = try root.write("config.toml", "[units.\"ci.service\"]\nsecrets = [\"gh\"]\nsecret = []\n")
        let broker = try BrokerProcess(binary: TestBinary.path, arguments: ["--config", path], root: root)
        #expect(throws: (any Error).self) { try broker.start(timeoutSeconds: 5) }
        #expect(broker.stderrText.contains("\(path):3:1: unknown key 'secret' in units.\"ci.service\""), "\(broker.stderrText)")
        #expect(!FileSystem.exists(broker.adminSocket))
    }
}
