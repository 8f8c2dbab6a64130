import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The control plane (SPEC §3.2): status, unregister, reload, and the admin socket's errors.
@Suite struct AdminSocketTests {
    @Test func statusHasEveryFieldWithTheRightType() throws {
        let broker = try Broker.start()
        let before = try broker.status()
        #expect(before.keys.map(Set.init) == Set(["ok", "broker_version", "protocol_version", "uptime_seconds", "secret_count",
                                                  "secrets_loaded_at", "projects", "credentials_socket", "units",
                                                  "hardening", "audit"]), "\(before)")
        #expect(before["ok"] == .bool(true))
        #expect(before["broker_version"]?.string == BrokerVersion.version)
        #expect(before["protocol_version"]?.int == 2)
        #expect((before["uptime_seconds"]?.int ?? -1) >= 0)
        #expect(before["secret_count"]?.int == 0)
        #expect(before["secrets_loaded_at"] == .null)
        #expect(before["projects"] == .array([]))
        #expect(before["credentials_socket"] == .null, "no [units]: no credentials socket")
        #expect(before["units"] == .array([]))
        let hardening = try #require(before["hardening"])
        #expect(hardening.keys.map(Set.init) == ["memory_locked", "seccomp", "capabilities_dropped", "no_new_privs", "dumpable"])
        for key in hardening.keys ?? [] { #expect(hardening[key]?.bool != nil, "hardening.\(key) is not a bool") }
        let audit = try #require(before["audit"])
        #expect(audit.keys.map(Set.init) == ["path", "degraded", "dropped_events"])
        #expect(audit["path"]?.string == broker.auditLogPath)
        #expect(audit["degraded"] == .bool(false))
        #expect(audit["dropped_events"]?.int == 0)

        try broker.registerProject("statp", secrets: ["a", "b", "c"])
        try broker.push(json: #"{"a":"\#(secret("a"))","bundle":{"f":"\#(secret("f"))"}}"#)
        _ = try broker.connect(project: "statp").request(op: "get", [("name", "a")])
        let after = try broker.status()
        #expect(after["secret_count"]?.int == 2)
        #expect(isRFC3339UTC(after["secrets_loaded_at"]?.string ?? ""), "\(after)")
        let project = try #require(after.project("statp"))
        #expect(project.keys.map(Set.init) == ["name", "socket_path", "allowlist_size", "cache_entries", "manifest_changed"])
        #expect(project["manifest_changed"] == .bool(false))
        #expect(project["socket_path"]?.string == broker.projectSocket("statp"))
        #expect(project["allowlist_size"]?.int == 3)
        #expect(project["cache_entries"]?.int == 1)
    }

    @Test func statusListsProjectsSorted() throws {
        let broker = try Broker.start()
        for name in ["mmm", "aaa", "zzz"] { try broker.registerProject(name, secrets: []) }
        let names = try broker.status()["projects"]?.array?.compactMap { $0["name"]?.string }
        #expect(names == ["aaa", "mmm", "zzz"])
    }

    @Test func wrongFieldTypesOnAdminOpsAreProtocolErrors() throws {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "typed", secrets: [])
        let admin = try BrokerConnection(path: broker.adminSocket, timeoutSeconds: 10)
        for line in [#"{"op":"ping"}"#, #"{"op":"get","name":"a"}"#, #"{"op":"Status"}"#,
                     #"{"op":"register","name":5,"project_path":"\#(path)"}"#,
                     #"{"op":"register","name":"typed","project_path":["\#(path)"]}"#,
                     #"{"op":"register","name":"typed","project_path":"\#(path)","allowed_uids":"1000"}"#,
                     #"{"op":"register","name":"typed","project_path":"\#(path)","allowed_uids":["1000"]}"#,
                     #"{"op":"register","name":"typed","project_path":"\#(path)","socket_gid":"0"}"#,
                     #"{"op":"unregister","name":null}"#, #"{"op":"reload","name":{"n":"typed"}}"#] {
            expectError(try admin.request(json: line), "protocol_error")
            #expect(try admin.request(op: "status").ok, "connection closed after \(line)")
        }
        #expect(try broker.status()["projects"] == .array([]))
    }

    @Test func unknownFieldsAreIgnoredOnTheAdminSocket() throws {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "extra", secrets: ["a"])
        #expect(try broker.adminRequest(#"{"op":"status","verbose":true,"filter":{"x":[1]}}"#).ok)
        expectOK(try broker.adminRequest(#"{"op":"register","name":"extra","project_path":"\#(path)","labels":["x"]}"#),
                 keys: ["ok", "socket_path"])
        expectOK(try broker.adminRequest(#"{"op":"push-creds","secrets":{"a":"\#(secret("a"))"},"source":"vault"}"#),
                 keys: ["ok", "loaded_at", "secret_count"])
        expectOK(try broker.adminRequest(#"{"op":"reload","name":"extra","force":1}"#), keys: ["ok", "allowlist", "added", "removed"])
        expectOK(try broker.adminRequest(#"{"op":"clear-creds","why":null}"#), keys: ["ok"])
        expectOK(try broker.adminRequest(#"{"op":"unregister","name":"extra","purge":false}"#), keys: ["ok"])
    }

    @Test func unknownProjectsAreProjectUnknown() throws {
        let broker = try Broker.start()
        expectError(try broker.adminRequest(#"{"op":"unregister","name":"ghost"}"#), "project_unknown")
        expectError(try broker.adminRequest(#"{"op":"reload","name":"ghost"}"#), "project_unknown")
    }

    @Test func unregisterRemovesSocketDirectoryCacheAndRegistryEntry() throws {
        let broker = try Broker.withProject("leaver", secrets: ["a"], values: [("a", secret("a"))])
        try broker.registerProject("stayer", secrets: ["a"])
        let connection = try broker.connect(project: "leaver", timeoutSeconds: 10)
        #expect(try connection.request(op: "get", [("name", "a")]).ok)

        let reply = try broker.adminRequest(#"{"op":"unregister","name":"leaver"}"#)
        expectOK(reply, keys: ["ok"])
        #expect(!FileSystem.exists(broker.socketDir + "/projects/leaver"), "socket directory left behind")
        #expect(FileSystem.exists(broker.projectSocket("stayer")))
        #expect(try broker.status().project("leaver") == nil)
        let registry = String(decoding: (try? FileSystem.readFile(broker.stateDir + "/registry.json")) ?? [], as: UTF8.self)
        #expect(!registry.contains("leaver") && registry.contains("stayer"), "\(registry)")
        #expect(connection.waitForClose(timeoutSeconds: 5) != .stillOpen, "open connection of an unregistered project kept")
        #expect((try? BrokerConnection(path: broker.projectSocket("leaver"))) == nil)
        #expect(broker.waitForAuditEvent { $0.event == "project.unregistered" && $0["project"]?.string == "leaver"
            && $0["allowlist_size"]?.int == 1 } != nil)
        // It can be registered again afterwards.
        #expect(try broker.register("leaver", path: broker.root.file("projects/leaver")).ok)
    }

    @Test func reloadSwapsTheManifestFlushesTheCacheAndKeepsConnections() throws {
        let broker = try Broker.withProject("reloader", secrets: ["a"], values: [("a", secret("a")), ("b", secret("b"))])
        let connection = try broker.connect(project: "reloader", timeoutSeconds: 10)
        #expect(try connection.request(op: "get", [("name", "a")]).ok)
        expectError(try connection.request(op: "get", [("name", "b")]), "denied")
        #expect(try broker.status().project("reloader")?["cache_entries"]?.int == 1)

        try broker.root.write("projects/reloader/.remo/manifest.toml", manifest("reloader", "[secrets.b]\n[secrets.c]\n"))
        let reply = try broker.adminRequest(#"{"op":"reload","name":"reloader"}"#)
        expectOK(reply, keys: ["ok", "allowlist", "added", "removed"])
        #expect(reply.tree["allowlist"]?.strings == ["b", "c"])
        #expect(reply.tree["added"]?.strings == ["b", "c"])
        #expect(reply.tree["removed"]?.strings == ["a"])
        #expect(try broker.status().project("reloader")?["cache_entries"]?.int == 0)
        #expect(try broker.status().project("reloader")?["allowlist_size"]?.int == 2)
        // Same connection, new manifest.
        #expect(valueMatches(try connection.request(op: "get", [("name", "b")]), secret("b")), "value mismatch")
        expectError(try connection.request(op: "get", [("name", "a")]), "denied")
        #expect(try connection.request(op: "info").tree["allowlist"]?.strings == ["b", "c"])
        #expect(broker.waitForAuditEvent { $0.event == "project.reloaded" && $0["allowlist_size"]?.int == 2
            && $0["added"]?.strings == ["b", "c"] && $0["removed"]?.strings == ["a"] } != nil)
    }

    /// SPEC §3: "A message never contains a secret value or echoes request payload bytes."
    /// Each request below carries a distinctive token; no error message may repeat it.
    @Test func errorMessagesNeverEchoRequestPayloadBytes() throws {
        let token = "zqxjtoken"
        let broker = try Broker.withProject("echo", secrets: [token])
        try broker.root.write("projects/\(token)/.remo/manifest.toml", manifest(token))
        var replies: [(String, Reply)] = []
        for line in [#"{"op":"unregister","name":"\#(token)"}"#, #"{"op":"reload","name":"\#(token)"}"#,
                     #"{"op":"register","name":"\#(token)","project_path":"/nonexistent/\#(token)"}"#,
                     #"{"op":"register","name":"\#(token)","project_path":"\#(broker.root.file("projects/echo"))"}"#,
                     #"{"op":"register","name":"Bad\#(token)","project_path":"/tmp/Bad\#(token)"}"#,
                     #"{"op":"\#(token)"}"#, #"{"op":"push-creds","secrets":{"\#(token)":5}}"#,
                     #"{"op":"push-creds","secrets":{"ok":{"\#(token)":5}}}"#,
                     #"{"op":"push-creds","secrets":{"ok":{"\#(token)-":"v"}}}"#] {
            replies.append((line, try broker.adminRequest(line)))
        }
        let project = try broker.connect(project: "echo")
        for line in [#"{"op":"get","name":"\#(token)"}"#, #"{"op":"\#(token)"}"#, #"{"\#(token)":1}"#] {
            replies.append((line, try project.request(json: line)))
        }
        for (line, reply) in replies {
            #expect(!reply.ok, "\(line) succeeded")
            let message = reply.message ?? ""
            #expect(!message.contains(token), "\(line) → \(reply.redactedText)")
        }
    }
}
