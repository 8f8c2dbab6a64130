import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The audit log as written by a running broker (SPEC §6).
@Suite struct AuditLogIntegrationTests {
    static func isInt(_ value: JSONTree?) -> Bool { value?.int != nil }

    /// Drives one of each kind of event, then checks every line.
    @Test func everyLineParsesAndCarriesItsFieldsAndNoValue() throws {
        let broker = try Broker.withProject("audited", secrets: ["a", "b", "missing"],
                                            values: [("a", secret("a")), ("b", secret("b")), ("other", secret("other"))])
        let project = try broker.connect(project: "audited")
        var gets = 0
        for name in ["a", "b", "other", "missing", "a", "not a name"] {
            _ = try project.request(op: "get", [("name", name)])
            gets += 1
        }
        _ = try project.request(json: "{\"op\":\"nope\"}")
        try broker.root.write("projects/audited/.remo/manifest.toml", manifest("audited", "bogus = 1\n"))
        _ = try broker.adminRequest(#"{"op":"reload","name":"audited"}"#)
        try broker.root.write("projects/audited/.remo/manifest.toml", manifest("audited", "[secrets.a]\n"))
        _ = try broker.adminRequest(#"{"op":"reload","name":"audited"}"#)
        _ = try broker.adminRequest(#"{"op":"clear-creds"}"#)
        _ = try broker.adminRequest(#"{"op":"unregister","name":"audited"}"#)

        let lines = broker.waitForAudit { AuditFile.events($0).contains("project.unregistered") }
        var fetches: [JSONTree] = []
        for line in lines {
            expectNoSecret(line, "an audit line")
            guard let event = try? JSONTree(parsing: line), event.keys != nil else {
                Issue.record("not a JSON object: \(SecretMarker.redacted(line))")
                continue
            }
            // SPEC §11's chain fields come first, then SPEC §6's.
            #expect(event.keys?.prefix(4) == ["seq", "prev", "ts", "event"], "\(event)")
            #expect(isRFC3339UTC(event["ts"]?.string ?? "", fractionDigits: 6), "\(event)")
            if event.event == "fetch" { fetches.append(event) }
        }
        let events = AuditFile.events(lines)
        #expect(events.first == "broker.started")
        for name in ["project.registered", "secrets.pushed", "request.invalid", "manifest.invalid", "project.reloaded",
                     "secrets.cleared", "project.unregistered"] {
            #expect(events.contains(name), "no \(name) event")
        }

        #expect(fetches.count == gets, "one fetch event per get")
        let peerFields: Set = ["seq", "prev", "ts", "event", "project", "secret_name", "decision", "outcome", "peer_pid", "peer_uid",
                               "peer_gid", "latency_us"]
        for fetch in fetches {
            let denied = fetch["decision"]?.string == "deny"
            #expect(fetch.keys.map(Set.init) == (denied ? peerFields.union(["reason"]) : peerFields), "\(fetch)")
            #expect(fetch["project"]?.string == "audited")
            #expect(Self.isInt(fetch["peer_pid"]) && Self.isInt(fetch["peer_uid"]) && Self.isInt(fetch["peer_gid"]), "\(fetch)")
            #expect(fetch["peer_pid"]?.int == Int(getpid()))
            #expect((fetch["latency_us"]?.int ?? -1) >= 0, "\(fetch)")
        }
        let outcomes = fetches.map { "\($0["secret_name"]?.string ?? "?") \($0["decision"]?.string ?? "?") "
            + "\($0["outcome"]?.string ?? "?") \($0["reason"]?.string ?? "-")" }
        #expect(Array(outcomes.prefix(5)) == ["a allow ok -", "b allow ok -", "other deny denied not_in_allowlist",
                                              "missing allow not_found -", "a allow ok -"])
        #expect(outcomes.last?.hasSuffix(" deny denied not_in_allowlist") == true, "\(outcomes)")

        let started = try #require(broker.auditEvents().first)
        #expect(started["version"]?.string == BrokerVersion.version)
        #expect(started["pid"]?.int == Int(broker.pid ?? -1))
        #expect(started["hardening"]?.keys.map(Set.init) == ["memory_locked", "seccomp", "capabilities_dropped",
                                                              "no_new_privs", "dumpable"])
        let invalid = broker.auditEvents().first { $0.event == "request.invalid" }
        #expect(invalid?["socket"]?.string == "audited" && invalid?["code"]?.string == "protocol_error", "\(String(describing: invalid))")
        let manifestInvalid = broker.auditEvents().first { $0.event == "manifest.invalid" }
        #expect(manifestInvalid?["project"]?.string == "audited" && manifestInvalid?["error"]?.string != nil)
        #expect(broker.auditEvents().first { $0.event == "secrets.cleared" }?["previous_count"]?.int == 3)

        // Nothing secret reached the broker's stderr or the state dir either.
        expectNoSecret(broker.stderrText, "the broker's stderr")
        for name in (try? FileSystem.listDirectory(broker.stateDir)) ?? [] {
            let bytes = (try? FileSystem.readFile(broker.stateDir + "/" + name)) ?? []
            expectNoSecret(bytes, "\(name) in the state dir")
        }
    }

    @Test func movingTheLogAwayMakesTheNextEventRecreateIt() throws {
        let broker = try Broker.withProject("rotated", secrets: ["a"], values: [("a", secret("a"))])
        let project = try broker.connect(project: "rotated")
        _ = try project.request(op: "get", [("name", "a")])
        broker.waitForAudit { AuditFile.events($0).contains("fetch") }
        let rotated = broker.auditLogPath + ".1"
        #expect(rename(broker.auditLogPath, rotated) == 0)

        _ = try project.request(op: "get", [("name", "a")])
        let lines = broker.waitForAudit { AuditFile.events($0).contains("fetch") }
        let events = AuditFile.events(lines)
        #expect(events == ["fetch"], "the recreated file should hold just the new event")
        var info = stat()
        #expect(stat(broker.auditLogPath, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(AuditFile.events(AuditFile.lines(rotated)).filter { $0 == "fetch" }.count == 1, "old file written after the move")
    }

    /// Ways to make the log unwritable after start that hold even for root.
    static let outages = ["log path becomes a directory", "log directory becomes a file"]

    @Test(arguments: outages)
    func unwritableLogDegradesKeepsServingAndRecovers(_ outage: String) throws {
        let broker = try Broker.withProject("degrade", secrets: ["a"], values: [("a", secret("a"))])
        let project = try broker.connect(project: "degrade")
        _ = try project.request(op: "get", [("name", "a")])
        broker.waitForAudit { AuditFile.events($0).contains("fetch") }

        let directory = FileSystem.parentDirectory(broker.auditLogPath)
        let aside = broker.root.file("log-aside")
        switch outage {
        case "log path becomes a directory":
            #expect(rename(broker.auditLogPath, aside) == 0)
            #expect(mkdir(broker.auditLogPath, 0o700) == 0)
        default:
            #expect(rename(directory, aside) == 0)
            try broker.root.write("log", "not a directory")
        }

        var gets = 1
        var servedDuringOutage = true
        let degraded = try broker.waitForStatus { status in
            if let reply = try? project.request(op: "get", [("name", "a")]) {
                gets += 1
                servedDuringOutage = servedDuringOutage && valueMatches(reply, secret("a"))
            }
            return status["audit"]?["degraded"] == .bool(true)
        }
        #expect(degraded["audit"]?["degraded"] == .bool(true), "status never reported the audit log degraded")
        #expect(servedDuringOutage, "a get failed while the audit log was unwritable")

        // Repair: the path is usable again; the next events recreate the file.
        switch outage {
        case "log path becomes a directory": #expect(rmdir(broker.auditLogPath) == 0)
        default:
            #expect(unlink(broker.root.file("log")) == 0)
            #expect(mkdir(directory, 0o700) == 0)
        }
        let recovered = try broker.waitForStatus { status in
            if (try? project.request(op: "get", [("name", "a")])) != nil { gets += 1 }
            return status["audit"]?["degraded"] == .bool(false)
        }
        #expect(recovered["audit"]?["degraded"] == .bool(false), "the audit log did not recover")
        let lines = broker.waitForAudit { AuditFile.events($0).contains("audit.recovered") }
        let events = AuditFile.events(lines)
        #expect(events.first == "audit.degraded", "\(events)")
        #expect(events.contains("audit.recovered"))
        let recoveredEvent = lines.compactMap { try? JSONTree(parsing: $0) }.first { $0.event == "audit.recovered" }
        #expect(recoveredEvent?["dropped_events"]?.int == 0)
        // Events held in memory during the outage were written: every get is accounted for.
        let previous = outage == "log path becomes a directory" ? AuditFile.lines(aside) : AuditFile.lines(aside + "/audit.log")
        let fetchCount = { () -> Int in
            (AuditFile.events(previous) + AuditFile.events(broker.auditLines())).filter { $0 == "fetch" }.count
        }
        #expect(Poll.until { fetchCount() == gets }, "\(fetchCount()) fetch events for \(gets) gets")
    }
}
