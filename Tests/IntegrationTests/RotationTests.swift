import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// `revision` and `wait` on project sockets (SPEC §10), against the real binary.
@Suite struct RotationTests {
    static func revision(_ broker: BrokerProcess, _ project: String) throws -> String {
        let reply = try broker.connect(project: project).request(op: "info")
        return try #require(reply.string("revision"))
    }

    static func waitRequest(_ revision: String, timeout: Int? = nil) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", "wait")
        writer.field("revision", revision)
        if let timeout { writer.field("timeout_seconds", timeout) }
        writer.endObject()
        return writer.bytes
    }

    /// Two projects: `alpha` may see `a` and `shared`, `beta` may see `b` and `shared`.
    static func twoProjects(_ arguments: [String] = []) throws -> BrokerProcess {
        let broker = try Broker.start(Broker.unlimited + arguments)
        try broker.registerProject("alpha", secrets: ["a", "shared"])
        try broker.registerProject("beta", secrets: ["b", "shared"])
        try broker.push([("a", secret("a1")), ("b", secret("b1")), ("shared", secret("s1"))])
        return broker
    }

    @Test func revisionMovesOnlyWhenWhatTheProjectMaySeeChanges() throws {
        let broker = try Self.twoProjects()
        let alpha0 = try Self.revision(broker, "alpha"), beta0 = try Self.revision(broker, "beta")
        #expect(alpha0 != beta0)

        // Identical re-push: nobody changes.
        try broker.push([("a", secret("a1")), ("b", secret("b1")), ("shared", secret("s1"))])
        #expect(try Self.revision(broker, "alpha") == alpha0)
        #expect(try Self.revision(broker, "beta") == beta0)

        // Only beta's secret: alpha unchanged. An unlisted secret appearing changes nobody.
        try broker.push([("a", secret("a1")), ("b", secret("b2")), ("shared", secret("s1")), ("other", secret("o"))])
        #expect(try Self.revision(broker, "alpha") == alpha0)
        let beta1 = try Self.revision(broker, "beta")
        #expect(beta1 != beta0)

        // A shared one: both. A secret disappearing counts as a change.
        try broker.push([("a", secret("a1")), ("b", secret("b2")), ("shared", secret("s2"))])
        let alpha1 = try Self.revision(broker, "alpha")
        #expect(alpha1 != alpha0)
        #expect(try Self.revision(broker, "beta") != beta1)
        try broker.push([("b", secret("b2")), ("shared", secret("s2"))])
        let alpha2 = try Self.revision(broker, "alpha")
        #expect(alpha2 != alpha1)

        // A bundle re-pushed with its fields in another order is no change; a field value is.
        try broker.pushJSON(#"{"a":{"x":"\#(secret("x"))","y":"\#(secret("y"))"},"b":"\#(secret("b2"))","shared":"\#(secret("s2"))"}"#)
        let alpha3 = try Self.revision(broker, "alpha")
        try broker.pushJSON(#"{"a":{"y":"\#(secret("y"))","x":"\#(secret("x"))"},"b":"\#(secret("b2"))","shared":"\#(secret("s2"))"}"#)
        #expect(try Self.revision(broker, "alpha") == alpha3)
        try broker.pushJSON(#"{"a":{"y":"\#(secret("y2"))","x":"\#(secret("x"))"},"b":"\#(secret("b2"))","shared":"\#(secret("s2"))"}"#)
        let alpha4 = try Self.revision(broker, "alpha")
        #expect(alpha4 != alpha3)

        // clear-creds: both see their secrets go.
        #expect(try broker.admin().request(op: "clear-creds").ok)
        #expect(try Self.revision(broker, "alpha") != alpha4)
        // A second clear changes nothing.
        let cleared = try Self.revision(broker, "alpha")
        #expect(try broker.admin().request(op: "clear-creds").ok)
        #expect(try Self.revision(broker, "alpha") == cleared)
    }

    @Test func reloadMovesTheRevisionOnlyWhenBindingsChange() throws {
        let broker = try Self.twoProjects()
        let before = try Self.revision(broker, "alpha")
        #expect(try broker.admin().request(op: "reload", [("name", "alpha")]).ok)
        #expect(try Self.revision(broker, "alpha") == before)
        let path = broker.root.file("projects/alpha/.remo/manifest.toml")
        _ = try broker.root.write("projects/alpha/.remo/manifest.toml",
                                  ProjectFixture.defaultManifest(name: "alpha", secrets: ["a", "shared", "extra"]))
        #expect(FileSystem.exists(path))
        var dryRun = JSONWriter()
        dryRun.beginObject(); dryRun.field("op", "reload"); dryRun.field("name", "alpha"); dryRun.field("dry_run", true); dryRun.endObject()
        #expect(try broker.admin().request(dryRun).ok)
        #expect(try Self.revision(broker, "alpha") == before)
        #expect(try broker.admin().request(op: "reload", [("name", "alpha")]).ok)
        #expect(try Self.revision(broker, "alpha") != before)
    }

    @Test func revisionAfterARestartDiffersFromEveryEarlierOne() throws {
        let broker = try Self.twoProjects()
        let first = try Self.revision(broker, "alpha")
        _ = try broker.stop()
        try broker.start()
        let second = try Self.revision(broker, "alpha")
        #expect(second != first)
    }

    @Test func waitAnswersAtOnceForAStaleRevisionAndHoldsACurrentOne() throws {
        let broker = try Self.twoProjects()
        let current = try Self.revision(broker, "alpha")
        let stale = try broker.connect(project: "alpha").request(Self.waitRequest("not-the-revision"))
        expectOK(stale, keys: ["ok", "revision", "changed"])
        #expect(stale.string("revision") == current)
        #expect(stale.document["changed"] == .bool(true))

        // Held: a wait, then a pipelined ping behind it; an unrelated push wakes nothing; a
        // relevant one answers the wait, then the ping, in order.
        let waiter = try broker.connect(project: "alpha", timeoutSeconds: 30)
        try waiter.send(Self.waitRequest(current, timeout: 3600))
        try waiter.send(Array(#"{"op":"ping"}"#.utf8))
        try broker.push([("a", secret("a1")), ("b", secret("b2")), ("shared", secret("s1"))])
        #expect(waiter.staysQuiet(forSeconds: 0.3))  // the unrelated push woke nothing
        try broker.push([("a", secret("a2")), ("b", secret("b2")), ("shared", secret("s1"))])
        let answer = try waiter.receive()
        expectOK(answer, keys: ["ok", "revision", "changed"])
        #expect(answer.document["changed"] == .bool(true))
        #expect(answer.string("revision") == (try Self.revision(broker, "alpha")))
        #expect(answer.string("revision") != current)
        #expect(try waiter.receive().string("project") == "alpha")  // the pipelined ping, after it
        #expect(try waiter.request(op: "ping").ok, "connection not usable after a wait")

        // wait is not audited; the gets that follow are.
        #expect(try waiter.request(op: "get", [("name", "a")]).ok)
        let lines = broker.waitForAudit { $0.contains { $0.contains("\"fetch\"") } }
        #expect(!lines.contains { $0.contains("wait") })
    }

    @Test func waitTimesOutWithChangedFalseAndIsNeverIdle() throws {
        let broker = try Self.twoProjects(["--idle-timeout-seconds", "1"])
        let current = try Self.revision(broker, "alpha")
        let waiter = try broker.connect(project: "alpha", timeoutSeconds: 30)
        let reply = try waiter.request(Self.waitRequest(current, timeout: 3))  // three idle timeouts
        expectOK(reply, keys: ["ok", "revision", "changed"])
        #expect(reply.document["changed"] == .bool(false))
        #expect(reply.string("revision") == current)
        #expect(try waiter.request(op: "ping").ok)
    }

    @Test(arguments: [
        #"{"op":"wait"}"#, #"{"op":"wait","revision":1}"#, #"{"op":"wait","revision":null}"#,
        #"{"op":"wait","revision":"r","timeout_seconds":0}"#, #"{"op":"wait","revision":"r","timeout_seconds":3601}"#,
        #"{"op":"wait","revision":"r","timeout_seconds":1.5}"#, #"{"op":"wait","revision":"r","timeout_seconds":"5"}"#,
        #"{"op":"wait","revision":"r","timeout_seconds":-1}"#,
    ])
    func malformedWaitIsProtocolError(_ line: String) throws {
        let broker = try Broker.withProject("bad", secrets: ["a"])
        let connection = try broker.connect(project: "bad")
        expectError(try connection.request(Array(line.utf8)), "protocol_error")
        #expect(try connection.request(op: "ping").ok)
    }

    @Test func waitingConnectionsCountTowardTheCaps() throws {
        let broker = try Self.twoProjects(["--max-connections-per-project", "2"])
        let current = try Self.revision(broker, "alpha")
        let held = try (0..<2).map { _ in try broker.connect(project: "alpha", timeoutSeconds: 30) }
        for connection in held { try connection.send(Self.waitRequest(current)) }
        _ = eventually { (try? broker.connect(project: "alpha").receive())?.code == "too_many_connections" }
        expectError(try broker.connect(project: "alpha").receive(), "too_many_connections")
        try broker.push([("a", secret("a9")), ("b", secret("b1")), ("shared", secret("s1"))])
        for connection in held { #expect(try connection.receive().document["changed"] == .bool(true)) }
    }

    @Test func aWaiterThatHangsUpFreesItsSlot() throws {
        let broker = try Self.twoProjects(["--max-connections-per-project", "1"])
        /// The project's one slot, once it is free (a refused connection is answered and closed).
        func connectWhenFree() -> BrokerConnection? {
            var connection: BrokerConnection?
            _ = eventually {
                connection = try? broker.connect(project: "alpha", timeoutSeconds: 30)
                return (try? connection?.request(op: "ping"))??.ok == true
            }
            return connection
        }
        for _ in 0..<3 {
            var waiter: BrokerConnection? = try #require(connectWhenFree(), "slot not freed")
            let current = try #require(try waiter?.request(Self.waitRequest("stale")).string("revision"))
            try waiter?.send(Self.waitRequest(current))
            #expect(waiter?.staysQuiet(forSeconds: 0.1) == true)
            expectError(try broker.connect(project: "alpha").receive(), "too_many_connections")  // the parked waiter holds the slot
            waiter = nil  // hangs up while parked
            _ = waiter
        }
        #expect(connectWhenFree() != nil, "slot not freed")
    }

    /// A peer that hangs up with a wait parked and more than a line limit of bytes pipelined
    /// behind it is closed at once. (Reading stops at the line limit before EOF, so waiting for
    /// EOF left the level-triggered hang-up waking the loop until the wait's deadline.)
    @Test func aWaiterThatHangsUpBehindAFullPipelineIsClosedNotSpunOn() throws {
        let broker = try Self.twoProjects()
        let pid = try #require(broker.pid)
        let current = try Self.revision(broker, "alpha")
        var waiter: BrokerConnection? = try broker.connect(project: "alpha", timeoutSeconds: 30)
        var bytes = Self.waitRequest(current, timeout: 3600)
        bytes.append(0x0A)
        bytes += [UInt8](repeating: 0x20, count: 70_000)  // a pipelined line longer than 64 KiB, unfinished
        #expect(waiter?.sendWithoutBlocking(bytes) == bytes.count)
        #expect(waiter?.staysQuiet(forSeconds: 0.2) == true)  // parked
        waiter = nil  // hangs up
        _ = waiter
        usleep(200_000)
        let before = try #require(Self.cpuTicks(pid))
        usleep(1_000_000)
        let after = try #require(Self.cpuTicks(pid))
        // A spinning loop burns ~100 ticks a second (USER_HZ); an idle broker about none.
        #expect(after - before < 30, "the broker used \(after - before) CPU ticks in 1 s after the hang-up")
        #expect(try broker.connect(project: "alpha").request(op: "ping").ok)
    }

    /// utime + stime of `pid` in clock ticks (/proc/<pid>/stat fields 14 and 15).
    static func cpuTicks(_ pid: pid_t) -> Int? {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    @Test func sigtermAnswersPendingWaitsBeforeTheDrainEnds() throws {
        let broker = try Self.twoProjects()
        let current = try Self.revision(broker, "alpha")
        let waiter = try broker.connect(project: "alpha", timeoutSeconds: 30)
        try waiter.send(Self.waitRequest(current))
        #expect(waiter.staysQuiet(forSeconds: 0.2))
        let stopped = try broker.stop()
        #expect(stopped.exitCode == 0)
        let answer = try waiter.receive()
        expectOK(answer, keys: ["ok", "revision", "changed"])
        #expect(answer.document["changed"] == .bool(false))
    }

    @Test func unregisterClosesWaitingConnections() throws {
        let broker = try Self.twoProjects()
        let current = try Self.revision(broker, "beta")
        let waiter = try broker.connect(project: "beta", timeoutSeconds: 30)
        try waiter.send(Self.waitRequest(current))
        #expect(try broker.admin().request(op: "unregister", [("name", "beta")]).ok)
        #expect(waiter.waitForClose(timeoutSeconds: 10) != .stillOpen)
        #expect(try broker.admin().request(op: "status").ok)
    }
}
