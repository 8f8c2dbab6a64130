import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Synchronization
import Testing

/// push-creds and clear-creds (SPEC §3.2, §5): validation, atomic replacement, cache flushes.
@Suite struct PushTests {
    @Test func pushReplyHasLoadedAtAndCount() throws {
        let broker = try Broker.start()
        let reply = try broker.adminRequest(#"{"op":"push-creds","secrets":{"a":"\#(secret("a"))","b":{"f":"\#(secret("f"))"}}}"#)
        expectOK(reply, keys: ["ok", "loaded_at", "secret_count"])
        #expect(reply.int("secret_count") == 2)
        #expect(isRFC3339UTC(reply.string("loaded_at") ?? ""), "\(reply.redactedText)")
        #expect(try broker.status()["secrets_loaded_at"]?.string == reply.string("loaded_at"))
        expectNoSecret(reply.raw, "the push reply")
        let event = broker.waitForAuditEvent { $0.event == "secrets.pushed" }
        #expect(event?["secret_count"]?.int == 2)
        #expect(event?["peer_uid"]?.int == Int(geteuid()))
        // An empty set is a valid push.
        #expect(try broker.adminRequest(#"{"op":"push-creds","secrets":{}}"#).int("secret_count") == 0)
    }

    /// Every rule of SPEC §3.2 that makes a push `invalid_payload`.
    static let invalidPushes: [(String, String)] = [
        ("secrets missing", #"{"op":"push-creds"}"#),
        ("secrets is a string", #"{"op":"push-creds","secrets":"a=b"}"#),
        ("secrets is an array", #"{"op":"push-creds","secrets":[["a","b"]]}"#),
        ("secrets is null", #"{"op":"push-creds","secrets":null}"#),
        ("secrets is a number", #"{"op":"push-creds","secrets":1}"#),
        ("name with a dash", #"{"op":"push-creds","secrets":{"ok":"v","bad-name":"v"}}"#),
        ("empty name", #"{"op":"push-creds","secrets":{"":"v"}}"#),
        ("name of 129 bytes", #"{"op":"push-creds","secrets":{"\#(String.filler(129))":"v"}}"#),
        ("non-ASCII name", #"{"op":"push-creds","secrets":{"caf\u00e9":"v"}}"#),
        ("value is a number", #"{"op":"push-creds","secrets":{"a":1}}"#),
        ("value is a bool", #"{"op":"push-creds","secrets":{"a":true}}"#),
        ("value is null", #"{"op":"push-creds","secrets":{"a":null}}"#),
        ("value is an array", #"{"op":"push-creds","secrets":{"a":["v"]}}"#),
        ("empty bundle", #"{"op":"push-creds","secrets":{"a":{}}}"#),
        ("bundle field name invalid", #"{"op":"push-creds","secrets":{"a":{"key id":"v"}}}"#),
        ("bundle field name empty", #"{"op":"push-creds","secrets":{"a":{"":"v"}}}"#),
        ("bundle field is a number", #"{"op":"push-creds","secrets":{"a":{"f":1}}}"#),
        ("bundle field is null", #"{"op":"push-creds","secrets":{"a":{"f":null}}}"#),
        ("nested bundle", #"{"op":"push-creds","secrets":{"a":{"f":{"g":"v"}}}}"#),
    ]

    @Test(arguments: invalidPushes.map(\.0))
    func invalidPushIsRefusedAndTheStoreIsUnchanged(_ label: String) throws {
        let line = try #require(Self.invalidPushes.first { $0.0 == label }?.1)
        let broker = try Broker.withProject("keeper", secrets: ["kept", "a"], values: [("kept", secret("kept"))])
        let loadedAt = try broker.status()["secrets_loaded_at"]
        expectError(try broker.adminRequest(line), "invalid_payload")
        let status = try broker.status()
        #expect(status["secret_count"]?.int == 1)
        #expect(status["secrets_loaded_at"] == loadedAt)
        let project = try broker.connect(project: "keeper")
        #expect(valueMatches(try project.request(op: "get", [("name", "kept")]), secret("kept")), "previous value lost")
        expectError(try project.request(op: "get", [("name", "a")]), "not_found")
        #expect(broker.waitForAuditEvent { $0.event == "request.invalid" && $0["code"]?.string == "invalid_payload"
            && $0["socket"]?.string == "admin" } != nil)
    }

    @Test func longestNamesAreAccepted() throws {
        let name = String(repeating: "N", count: 128), field = String(repeating: "f", count: 128)
        let broker = try Broker.withProject("longest", secrets: [name])
        try broker.push(json: #"{"\#(name)":{"\#(field)":"\#(secret("long"))"}}"#)
        let fields = try broker.connect(project: "longest").request(op: "get", [("name", name)]).tree["fields"]
        let same = fields?[field]?.string == secret("long")
        #expect(same, "bundle with a 128-byte name and field not served")
    }

    @Test func duplicateSecretNamesInAPushAreRefused() throws {
        let broker = try Broker.withProject("dupes", secrets: ["a"], values: [("a", secret("kept"))])
        expectError(try broker.adminRequest(#"{"op":"push-creds","secrets":{"a":"\#(secret("x"))","a":"\#(secret("y"))"}}"#),
                    "protocol_error")
        expectError(try broker.adminRequest(#"{"op":"push-creds","secrets":{"a":{"f":"\#(secret("x"))","f":"y"}}}"#),
                    "protocol_error")
        #expect(valueMatches(try broker.connect(project: "dupes").request(op: "get", [("name", "a")]), secret("kept")),
                "store changed by a refused push")
    }

    /// A set larger than the secret arena cannot be stored: an error, and the old set stays.
    @Test func pushLargerThanTheArenaFailsAndKeepsTheStore() throws {
        let broker = try Broker.withProject("small", secrets: ["a"], values: [("a", secret("kept"))],
                                            arguments: ["--secret-arena-bytes", "8192"])
        let reply = try broker.adminRequest(#"{"op":"push-creds","secrets":{"a":"\#(secret("big") + String.filler(16_000))"}}"#)
        expectError(reply, "internal_error")
        expectNoSecret(reply.raw, "the error reply")
        #expect(try broker.status()["secret_count"]?.int == 1)
        #expect(valueMatches(try broker.connect(project: "small").request(op: "get", [("name", "a")]), secret("kept")),
                "store changed by a push that did not fit")
    }

    @Test func pushReplacesTheWholeStore() throws {
        let broker = try Broker.withProject("replacer", secrets: ["a", "b", "c"],
                                            values: [("a", secret("a1")), ("b", secret("b1"))])
        let project = try broker.connect(project: "replacer")
        #expect(valueMatches(try project.request(op: "get", [("name", "b")]), secret("b1")), "value mismatch")
        try broker.push([("a", secret("a2")), ("c", secret("c2"))])
        #expect(valueMatches(try project.request(op: "get", [("name", "a")]), secret("a2")), "value mismatch")
        #expect(valueMatches(try project.request(op: "get", [("name", "c")]), secret("c2")), "value mismatch")
        expectError(try project.request(op: "get", [("name", "b")]), "not_found")
        #expect(try broker.status()["secret_count"]?.int == 2)
    }

    @Test func pushFlushesEveryProjectCache() throws {
        let broker = try Broker.withProject("cache1", secrets: ["a"], values: [("a", secret("a"))])
        try broker.registerProject("cache2", secrets: ["a"])
        for name in ["cache1", "cache2"] {
            #expect(try broker.connect(project: name).request(op: "get", [("name", "a")]).ok)
        }
        #expect(try broker.status()["projects"]?.array?.map { $0["cache_entries"]?.int } == [1, 1])
        try broker.push([("a", secret("a2"))])
        #expect(try broker.status()["projects"]?.array?.map { $0["cache_entries"]?.int } == [0, 0])
        // The next get reports a fresh entry (full TTL) and the new value.
        let reply = try broker.connect(project: "cache1").request(op: "get", [("name", "a")])
        #expect(valueMatches(reply, secret("a2")), "value mismatch")
        #expect(reply.int("ttl_seconds") == 900)
    }

    @Test func clearCredsEmptiesTheStoreAndFlushesCaches() throws {
        let broker = try Broker.withProject("clearer", secrets: ["a", "b"], values: [("a", secret("a")), ("b", secret("b"))])
        let project = try broker.connect(project: "clearer")
        #expect(try project.request(op: "get", [("name", "a")]).ok)
        let reply = try broker.adminRequest(#"{"op":"clear-creds"}"#)
        expectOK(reply, keys: ["ok"])
        let status = try broker.status()
        #expect(status["secret_count"]?.int == 0)
        #expect(status["secrets_loaded_at"] == .null)
        #expect(status.project("clearer")?["cache_entries"]?.int == 0)
        expectError(try project.request(op: "get", [("name", "a")]), "not_found")
        let event = broker.waitForAuditEvent { $0.event == "secrets.cleared" }
        #expect(event?["previous_count"]?.int == 2)
        #expect(event?["peer_uid"]?.int == Int(geteuid()))
        // A push after a clear works again.
        try broker.push([("b", secret("b2"))])
        #expect(valueMatches(try project.request(op: "get", [("name", "b")]), secret("b2")), "value mismatch")
    }

    // MARK: atomicity

    /// Generation `n` of the racing set. Lengths vary with `n` so that a value torn between
    /// two generations (or read from a released, zeroed one) cannot look like a valid one.
    static func generationValue(_ name: String, _ n: Int) -> String {
        secret("\(name)_\(n)_") + String(repeating: Character(UnicodeScalar(UInt8(97 + n % 26))), count: (n * 37) % 900)
    }

    static func generationJSON(_ n: Int) -> String {
        #"{"A":"\#(generationValue("A", n))","B":"\#(generationValue("B", n))","#
            + #""P":{"x":"\#(generationValue("Px", n))","y":"\#(generationValue("Py", n))"}}"#
    }

    /// Which generation `value` belongs to, if it is exactly a value of one.
    static func generation(of value: String?, _ name: String) -> Int? {
        guard let value else { return nil }
        let prefix = secret("\(name)_")
        guard value.hasPrefix(prefix) else { return nil }
        guard let n = Int(value.dropFirst(prefix.count).prefix { $0 != "_" }) else { return nil }
        return value == generationValue(name, n) ? n : nil
    }

    /// A pusher thread replaces the whole set {A, B, P{x, y}} 150 times, each push carrying
    /// a new generation number in every value, while this thread pipelines `get A`, `get B`,
    /// `get P` in single writes on a project connection. What would expose a torn set:
    /// - a value that is not exactly some generation's value (mixed or zeroed bytes);
    /// - the two fields of bundle P from different generations (one `get` must see one
    ///   whole set);
    /// - a reply older than a push already acknowledged before the batch was sent (the
    ///   cache must be flushed before the push reply), or older than an earlier reply on the
    ///   same connection (requests are answered in order against a store that only moves
    ///   forward). Two different gets of one batch may legitimately straddle a push, so
    ///   A, B and P must only be non-decreasing, not equal.
    @Test func getsRacingPushesSeeWholeGenerations() throws {
        let broker = try Broker.withProject("racer", secrets: ["A", "B", "P"], arguments: Broker.unlimited)
        try broker.push(json: Self.generationJSON(1))
        let pushes = 150
        let acknowledged = Arc(Atomic<Int>(1))
        let failures = Arc(Atomic<Int>(0))
        let adminSocket = broker.adminSocket
        let pusher = try BackgroundThread {
            guard let admin = try? BrokerConnection(path: adminSocket, timeoutSeconds: 10) else {
                failures.value.add(1, ordering: .relaxed)
                return
            }
            for n in 2...(pushes + 1) {
                guard let reply = try? admin.request(json: #"{"op":"push-creds","secrets":\#(Self.generationJSON(n))}"#),
                      reply.ok else {
                    failures.value.add(1, ordering: .relaxed)
                    return
                }
                acknowledged.value.store(n, ordering: .releasing)
            }
        }
        defer { pusher.join() }

        let project = try broker.connect(project: "racer", timeoutSeconds: 10)
        let batch = Array(#"{"op":"get","name":"A"}\#n{"op":"get","name":"B"}\#n{"op":"get","name":"P"}\#n"#.utf8)
        var latest = 0, torn = 0, stale = 0, batches = 0
        func check(floor: Int) throws {
            try project.send(batch)
            let replies = try project.receive(count: 3)
            let a = Self.generation(of: replies[0].string("value"), "A")
            let b = Self.generation(of: replies[1].string("value"), "B")
            let fields = replies[2].tree["fields"]
            let x = Self.generation(of: fields?["x"]?.string, "Px")
            let y = Self.generation(of: fields?["y"]?.string, "Py")
            guard let a, let b, let x, let y, x == y, fields?.keys?.count == 2 else {
                torn += 1
                return
            }
            if a < max(floor, latest) || b < a || x < b { stale += 1 }
            latest = max(latest, x)
            batches += 1
        }
        while acknowledged.value.load(ordering: .acquiring) < pushes + 1, failures.value.load(ordering: .relaxed) == 0, torn < 10 {
            try check(floor: acknowledged.value.load(ordering: .acquiring))
        }
        pusher.join()
        try check(floor: pushes + 1)
        #expect(failures.value.load(ordering: .relaxed) == 0, "a push failed")
        #expect(torn == 0, "\(torn) of \(batches) batches held a torn or unknown value")
        #expect(stale == 0, "\(stale) batches saw a generation older than one already acknowledged or served")
        #expect(latest == pushes + 1, "after the last push was acknowledged, a get still saw generation \(latest)")
    }
}

/// A reference box for sharing a non-copyable atomic with a thread.
final class Arc<Value: ~Copyable>: Sendable where Value: Sendable {
    let value: Value
    init(_ value: consuming Value) { self.value = value }
}
