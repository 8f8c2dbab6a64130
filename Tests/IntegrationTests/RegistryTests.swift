import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// register / unregister and the persisted registry (SPEC §3.2).
@Suite struct RegistryTests {
    @Test func registerCreatesTheSocketAndAnswers() throws {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "fresh", secrets: ["a", "b"])
        let reply = try broker.register("fresh", path: path)
        expectOK(reply, keys: ["ok", "socket_path"])
        #expect(reply.string("socket_path") == broker.projectSocket("fresh"))
        var info = stat()
        #expect(stat(broker.projectSocket("fresh"), &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(try broker.connect(project: "fresh").request(op: "ping").string("project") == "fresh")
        let event = broker.waitForAuditEvent { $0.event == "project.registered" }
        #expect(event?["project"]?.string == "fresh")
        #expect(event?["allowlist_size"]?.int == 2)
    }

    @Test func longestProjectNameIsAccepted() throws {
        let name = "p" + String(repeating: "-", count: 31) + String(repeating: "9", count: 32)
        #expect(name.utf8.count == 64)
        let broker = try Broker.withProject(name, secrets: [])
        #expect(try broker.connect(project: name).request(op: "ping").string("project") == name)
    }

    @Test func registerWithOwnGroupChownsTheSocket() throws {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "grouped", secrets: [])
        #expect(try broker.register("grouped", path: path, socketGID: getegid()).ok)
        var info = stat()
        #expect(stat(broker.projectSocket("grouped"), &info) == 0 && info.st_gid == getegid())
    }

    /// `project_socket_group` is what a register without socket_gid gets, by name or gid,
    /// and again when the project is restored at the next start.
    @Test func projectSocketGroupIsTheDefaultGroup() throws {
        let ownGroup = try #require(ownGroupName(), "the broker's group \(getegid()) has no /etc/group entry")
        let broker = try Broker.start(["--project-socket-group", ownGroup])
        let path = try ProjectFixture.create(in: broker.root, name: "defaulted", secrets: [])
        #expect(try broker.register("defaulted", path: path).ok)
        var info = stat()
        #expect(stat(broker.projectSocket("defaulted"), &info) == 0 && info.st_gid == getegid())
        #expect(stat(FileSystem.parentDirectory(broker.projectSocket("defaulted")), &info) == 0 && info.st_gid == getegid())
        #expect(info.st_mode & 0o777 == 0o750)
        #expect(try broker.stop().exitCode == 0)
        let again = try BrokerProcess(binary: TestBinary.path, arguments: ["--project-socket-group", String(getegid())], root: broker.root)
        try again.start()
        #expect(stat(again.projectSocket("defaulted"), &info) == 0 && info.st_gid == getegid())
    }

    /// A group the broker is not in is rejected at start, with the group named.
    @Test func foreignProjectSocketGroupStopsTheStart() throws {
        #expect(getegid() != 4242 && !Credentials.isOwnGroup(4242), "gid 4242 must not be one of ours for this test")
        for group in ["4242", "no-such-group-remo"] {
            let broker = try BrokerProcess(binary: TestBinary.path, arguments: ["--project-socket-group", group])
            #expect(throws: HarnessError.self) { try broker.start() }
            #expect(broker.stderrText.contains("cannot start: project_socket_group: project_socket_group \(group)"), "\(broker.stderrText)")
            #expect(!FileSystem.exists(broker.adminSocket))
        }
    }

    @Test func registeredProjectsComeBackAfterSIGTERMAndRestart() throws {
        let first = try Broker.withProject("persist", secrets: ["a"], values: [("a", secret("a"))])
        #expect(try first.connect(project: "persist").request(op: "get", [("name", "a")]).ok)
        #expect(try first.stop(signal: SIGTERM).exitCode == 0)

        let second = try BrokerProcess(binary: TestBinary.path, root: first.root)
        try second.start()
        #expect(try second.status().project("persist")?["socket_path"]?.string == second.projectSocket("persist"))
        let project = try second.connect(project: "persist")
        #expect(try project.request(op: "ping").string("project") == "persist")
        // Registrations persist; secrets never do.
        expectError(try project.request(op: "get", [("name", "a")]), "not_found")
        try second.push([("a", secret("a2"))])
        #expect(valueMatches(try project.request(op: "get", [("name", "a")]), secret("a2")), "value mismatch")
        let registry = (try? FileSystem.readFile(second.stateDir + "/registry.json")) ?? []
        expectNoSecret(registry, "the registry")
    }

    @Test func registeredProjectsComeBackAfterACrash() throws {
        let first = try Broker.withProject("crashy", secrets: ["a"])
        try first.registerProject("crashy2", secrets: ["a"])
        #expect(try first.stop(signal: SIGKILL).signal == SIGKILL)
        let second = try BrokerProcess(binary: TestBinary.path, root: first.root)
        try second.start()
        for name in ["crashy", "crashy2"] {
            #expect(try second.connect(project: name).request(op: "ping").ok)
        }
    }

    @Test func unregisteredProjectsStayGoneAfterRestart() throws {
        let first = try Broker.withProject("gone", secrets: [])
        try first.registerProject("kept", secrets: [])
        #expect(try first.adminRequest(#"{"op":"unregister","name":"gone"}"#).ok)
        try first.stop()
        let second = try BrokerProcess(binary: TestBinary.path, root: first.root)
        try second.start()
        let names = try second.status()["projects"]?.array?.compactMap { $0["name"]?.string }
        #expect(names == ["kept"])
        #expect(!FileSystem.exists(second.socketDir + "/projects/gone"))
    }

    // MARK: register errors

    /// Each bad registration: (label, expected code). The request is built in `request(for:)`.
    static let registerErrors: [(String, String)] = [
        ("name with upper case", "invalid_payload"),
        ("name starting with a dash", "invalid_payload"),
        ("name starting with an underscore", "invalid_payload"),
        ("name admin", "invalid_payload"),
        ("name of 65 bytes", "invalid_payload"),
        ("name with a dot", "invalid_payload"),
        ("empty name", "invalid_payload"),
        ("name field missing", "invalid_payload"),
        ("project_path field missing", "invalid_payload"),
        ("relative project_path", "invalid_payload"),
        ("project_path does not exist", "invalid_payload"),
        ("project_path is a file", "invalid_payload"),
        ("basename differs from name", "invalid_payload"),
        ("socket_gid not ours", "invalid_payload"),
        ("allowed_uids out of range", "invalid_payload"),
        ("manifest not found", "manifest_not_found"),
        ("manifest invalid", "manifest_invalid"),
        ("project exists", "project_exists"),
    ]

    /// The request line for `label`, and the project name nothing may be created for.
    static func request(for label: String, in broker: BrokerProcess) throws -> (String, String) {
        let root = broker.root
        func make(_ name: String, manifestText: String? = nil) throws -> String {
            try ProjectFixture.create(in: root, name: name, secrets: ["a"], manifest: manifestText ?? manifest(name, "[secrets.a]\n"))
        }
        func register(_ name: String, _ path: String, _ extra: String = "") -> String {
            #"{"op":"register","name":"\#(name)","project_path":"\#(path)"\#(extra)}"#
        }
        switch label {
        case "name with upper case": return (register("Upper", try make("Upper")), "Upper")
        case "name starting with a dash": return (register("-dash", try make("-dash")), "-dash")
        case "name starting with an underscore": return (register("_under", try make("_under")), "_under")
        case "name admin": return (register("admin", try make("admin")), "admin")
        case "name of 65 bytes":
            let long = String.filler(65)
            return (register(long, try make(long)), long)
        case "name with a dot": return (register("a.b", try make("a.b")), "a.b")
        case "empty name": return (register("", root.file("projects")), "")
        case "name field missing": return (#"{"op":"register","project_path":"\#(try make("nameless"))"}"#, "nameless")
        case "project_path field missing": return (#"{"op":"register","name":"pathless"}"#, "pathless")
        case "relative project_path":
            _ = try make("rel")
            return (register("rel", "projects/rel"), "rel")
        case "project_path does not exist": return (register("ghost", root.file("projects/ghost")), "ghost")
        case "project_path is a file":
            return (register("plain", try root.write("projects/plain", "not a directory")), "plain")
        case "basename differs from name": return (register("other", try make("mismatch")), "other")
        case "socket_gid not ours": return (register("gid", try make("gid"), #","socket_gid":4242"#), "gid")
        case "allowed_uids out of range":
            return (register("uids", try make("uids"), #","allowed_uids":[4294967295]"#), "uids")
        case "manifest not found":
            _ = try root.write("projects/bare/README", "no manifest here")
            return (register("bare", root.file("projects/bare")), "bare")
        case "manifest invalid":
            return (register("broken", try make("broken", manifestText: manifest("broken", "[secrets.a]\nbogus = 1\n"))), "broken")
        case "project exists":
            return (register("twice", try make("twice")), "twice")
        default:
            throw HarnessError("no case \(label)")
        }
    }

    @Test(arguments: registerErrors.map(\.0))
    func failedRegistrationCreatesNothing(_ label: String) throws {
        let code = try #require(Self.registerErrors.first { $0.0 == label }?.1)
        #expect(getegid() != 4242 && !Credentials.isOwnGroup(4242), "gid 4242 must not be one of ours for this test")
        let broker = try Broker.start()
        if label == "project exists" { try broker.registerProject("twice", secrets: ["a"]) }
        // manifest_changed may flip: "project exists" rewrites the registered project's file.
        func projects() throws -> [String] {
            try broker.status()["projects"]?.array?.map { "\($0["name"]?.string ?? "") \($0["allowlist_size"]?.int ?? -1)" } ?? []
        }
        let before = try projects()
        let registryBefore = (try? FileSystem.readFile(broker.stateDir + "/registry.json")) ?? []
        let (line, name) = try Self.request(for: label, in: broker)

        expectError(try broker.adminRequest(line), code)
        #expect(try projects() == before)
        #expect(((try? FileSystem.readFile(broker.stateDir + "/registry.json")) ?? []) == registryBefore, "registry changed")
        if label == "project exists" {
            #expect(try broker.connect(project: "twice").request(op: "ping").ok, "the existing project was disturbed")
        } else if !name.isEmpty {
            #expect(!FileSystem.exists(broker.socketDir + "/projects/" + name), "socket directory created")
        }
        let entries = (try? FileSystem.listDirectory(broker.socketDir + "/projects")) ?? []
        #expect(entries == (label == "project exists" ? ["twice"] : []), "\(entries)")
        if code == "manifest_invalid" {
            #expect(broker.waitForAuditEvent { $0.event == "manifest.invalid" && $0["project"]?.string == name } != nil)
        }
        #expect(broker.auditEvents().allSatisfy { $0.event != "project.registered" || label == "project exists" })
    }
}

/// The name of the process's effective group in /etc/group.
private func ownGroupName() -> String? {
    guard let bytes = try? FileSystem.readFile("/etc/group") else { return nil }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: ":", omittingEmptySubsequences: false)
        if fields.count >= 3, fields[2] == String(getegid()) { return String(fields[0]) }
    }
    return nil
}
