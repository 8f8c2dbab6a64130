import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// Line limits, idle timeout, rate limit, slow readers and connection limits (SPEC §3, §3.2).
@Suite struct LimitTests {
    /// `{"op":OP,"pad":"xxx…"}` of exactly `length` bytes.
    static func paddedRequest(_ op: String, length: Int) -> [UInt8] {
        let head = "{\"op\":\"\(op)\",\"pad\":\"", tail = "\"}"
        return Array((head + String.filler(length - head.utf8.count - tail.utf8.count) + tail).utf8)
    }

    @Test(arguments: [("project", 64 * 1024), ("admin", 1024 * 1024)])
    func lineAtTheLimitIsServedAndOneByteMoreIsPayloadTooLarge(_ socket: String, _ limit: Int) throws {
        let broker = try Broker.withProject("lines", secrets: [])
        let path = socket == "admin" ? broker.adminSocket : broker.projectSocket("lines")
        let op = socket == "admin" ? "status" : "ping"

        let atLimit = try BrokerConnection(path: path, timeoutSeconds: 10)
        let line = Self.paddedRequest(op, length: limit)
        #expect(line.count == limit)
        #expect(try atLimit.request(line).ok)
        #expect(try atLimit.request(op: op).ok, "connection not usable after a line at the limit")

        // limit + 1 bytes and no newline yet: already too long.
        let over = try BrokerConnection(path: path, timeoutSeconds: 10)
        try over.sendRaw(Self.paddedRequest(op, length: limit + 1))
        expectError(try over.receive(), "payload_too_large")
        #expect(over.waitForClose(timeoutSeconds: 5) == .closed(discardedBytes: 0))

        #expect(broker.waitForAuditEvent { $0.event == "request.invalid" && $0["code"]?.string == "payload_too_large"
            && $0["socket"]?.string == (socket == "admin" ? "admin" : "lines") } != nil)
        #expect(try broker.status()["ok"] == .bool(true), "broker unwell after an oversized line")
    }

    @Test func idleAndStalledConnectionsAreClosedActiveOnesStay() throws {
        let broker = try Broker.withProject("idler", secrets: [], arguments: ["--idle-timeout-seconds", "1"])
        let idle = try broker.connect(project: "idler", timeoutSeconds: 10)
        let stalled = try broker.connect(project: "idler", timeoutSeconds: 10)
        try stalled.sendRaw(Array("{\"op\":\"pi".utf8))
        let idleAdmin = try BrokerConnection(path: broker.adminSocket, timeoutSeconds: 10)
        // Trickles a never-ending line a byte at a time: still stalled mid-line.
        let trickle = try broker.connect(project: "idler", timeoutSeconds: 10)
        try trickle.sendRaw(Array("{\"op\":\"ping\",\"pad\":\"".utf8))
        let active = try broker.connect(project: "idler", timeoutSeconds: 10)

        let started = Monotonic.nanoseconds()
        var idleClosed = false, stalledClosed = false, adminClosed = false, trickleClosed = false, activeFailures = 0
        // Keep `active` busy for 3 s (three timeouts) while the others must be closed.
        while Monotonic.nanoseconds() - started < 3 * Monotonic.nanosecondsPerSecond || !(idleClosed && stalledClosed && adminClosed && trickleClosed) {
            if Monotonic.nanoseconds() - started > 8 * Monotonic.nanosecondsPerSecond { break }
            if (try? active.request(op: "ping"))?.ok != true { activeFailures += 1 }
            idleClosed = idleClosed || idle.waitForClose(timeoutSeconds: 0.05) != .stillOpen
            stalledClosed = stalledClosed || stalled.waitForClose(timeoutSeconds: 0.05) != .stillOpen
            adminClosed = adminClosed || idleAdmin.waitForClose(timeoutSeconds: 0.05) != .stillOpen
            if !trickleClosed { _ = trickle.sendWithoutBlocking(Array("x".utf8)) }
            trickleClosed = trickleClosed || trickle.waitForClose(timeoutSeconds: 0.05) != .stillOpen
            usleep(150_000)
        }
        #expect(idleClosed, "idle connection still open")
        #expect(stalledClosed, "connection stalled mid-line still open")
        #expect(adminClosed, "idle admin connection still open")
        #expect(trickleClosed, "connection trickling a never-ending line still open")
        #expect(activeFailures == 0, "active connection failed \(activeFailures) times")
    }

    @Test func fourthQuickGetIsRateLimited() throws {
        let broker = try Broker.withProject("limited", secrets: ["a"], values: [("a", secret("a"))],
                                            arguments: ["--rate-limit-per-second", "1", "--rate-limit-burst", "3"])
        try broker.registerProject("neighbour", secrets: ["a"])
        let connection = try broker.connect(project: "limited")
        try connection.send(Array(String(repeating: "{\"op\":\"get\",\"name\":\"a\"}\n", count: 4).utf8))
        let replies = try connection.receive(count: 4)
        #expect(replies.prefix(3).allSatisfy { valueMatches($0, secret("a")) }, "burst of 3 not served")
        expectError(replies[3], "rate_limited", extraKeys: ["retry_after_seconds"])
        #expect((replies[3].tree["retry_after_seconds"]?.int ?? 0) >= 1, "\(replies[3].tree)")
        // Per project: the neighbour's bucket is full.
        #expect(valueMatches(try broker.connect(project: "neighbour").request(op: "get", [("name", "a")]), secret("a")),
                "value mismatch")

        let fetches = broker.waitForAudit { AuditFile.events($0).filter { $0 == "fetch" }.count >= 5 }
            .compactMap { try? JSONTree(parsing: $0) }.filter { $0.event == "fetch" && $0["project"]?.string == "limited" }
        #expect(fetches.count == 4)
        let limited = fetches.last
        #expect(limited?["decision"]?.string == "deny")
        #expect(limited?["outcome"]?.string == "rate_limited")
        #expect(limited?["reason"]?.string == "rate_limited")
        #expect(limited?["secret_name"]?.string == "a")
    }

    /// A client that pipelines large gets and never reads must not stall anyone else: the
    /// broker stops reading it once its output backs up, and keeps serving the others.
    @Test func clientThatNeverReadsDoesNotStallOthers() throws {
        let big = secret("big_") + String.filler(60_000)
        let broker = try Broker.start(Broker.unlimited)
        try broker.registerProject("hog", secrets: ["big", "small"])
        try broker.registerProject("calm", secrets: ["big", "small"])
        try broker.push([("big", big), ("small", secret("small"))])

        let hog = try broker.connect(project: "hog", timeoutSeconds: 10)
        let requests = Array(String(repeating: "{\"op\":\"get\",\"name\":\"big\"}\n", count: 1000).utf8)
        var refusals = 0, written = 0
        while refusals < 5, written < 64 << 20 {
            let count = hog.sendWithoutBlocking(requests)
            written += count
            if count < requests.count {
                refusals += 1
                usleep(20_000)
            }
        }
        #expect(refusals == 5, "the broker kept reading a client that never reads (\(written) bytes)")

        for project in ["hog", "calm"] {
            let other = try broker.connect(project: project, timeoutSeconds: 10)
            var served = 0
            for _ in 0..<20 where valueMatches(try other.request(op: "get", [("name", "small")]), secret("small")) { served += 1 }
            #expect(served == 20, "\(project): only \(served) of 20 gets served while the hog is stuck")
            #expect(valueMatches(try other.request(op: "get", [("name", "big")]), big), "value mismatch")
        }
        #expect(try broker.status()["ok"] == .bool(true))
        // Once the hog reads, its replies are intact and in order.
        var intact = 0
        for _ in 0..<10 where valueMatches(try hog.receive(), big) { intact += 1 }
        #expect(intact == 10, "hog replies damaged")
    }

    /// Connects and sends one request, retrying while the broker still counts a connection
    /// that was closed a moment ago (e.g. the harness's start-up probe). Any reply but
    /// `too_many_connections` means served (`status` on a project socket is a protocol_error).
    static func servedConnection(_ path: String) throws -> BrokerConnection {
        for _ in 0..<200 {
            let connection = try BrokerConnection(path: path, timeoutSeconds: 10)
            if let reply = try? connection.request(json: #"{"op":"status"}"#), reply.code != "too_many_connections" {
                return connection
            }
            usleep(10_000)
        }
        throw HarnessError("no connection slot became free at \(path)")
    }

    /// A connection over a limit gets one `too_many_connections` line, then EOF.
    static func expectRefused(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let connection = try BrokerConnection(path: path, timeoutSeconds: 10)
        expectError(try connection.receive(), "too_many_connections", sourceLocation: sourceLocation)
        #expect(connection.waitForClose(timeoutSeconds: 5) == .closed(discardedBytes: 0), sourceLocation: sourceLocation)
    }

    @Test func maxConnectionsRefusesTheExcessConnection() throws {
        let broker = try Broker.withProject("crowd", secrets: [], arguments: ["--max-connections", "3"])
        let socket = broker.projectSocket("crowd")
        var held = [try Self.servedConnection(socket), try Self.servedConnection(socket), try Self.servedConnection(broker.adminSocket)]
        try Self.expectRefused(socket)
        try Self.expectRefused(broker.adminSocket)
        // The held connections are unaffected.
        for connection in held { #expect(try connection.request(json: #"{"op":"status"}"#).code != "too_many_connections") }
        // Closing one frees a slot.
        held.removeFirst()
        #expect(try Self.servedConnection(socket).request(op: "ping").ok)
        withExtendedLifetime(held) {}
    }

    @Test func maxConnectionsPerProjectRefusesTheExcessProjectConnection() throws {
        let broker = try Broker.withProject("busy", secrets: [], arguments: ["--max-connections-per-project", "2"])
        try broker.registerProject("quiet", secrets: [])
        let held = [try broker.connect(project: "busy"), try broker.connect(project: "busy")]
        for connection in held { #expect(try connection.request(op: "ping").ok) }
        try Self.expectRefused(broker.projectSocket("busy"))
        // Other projects and the admin socket are not limited by busy's count.
        let quiet = [try broker.connect(project: "quiet"), try broker.connect(project: "quiet")]
        for connection in quiet { #expect(try connection.request(op: "ping").ok) }
        #expect(try broker.status()["ok"] == .bool(true))
        for connection in held { #expect(try connection.request(op: "ping").ok) }
    }
}
