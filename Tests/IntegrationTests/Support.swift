import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// Shared by the integration suites: starting brokers, reply-shape checks, fixtures.
enum Broker {
    /// Rate limits high enough that a test's own burst of gets is never limited.
    static let unlimited = ["--rate-limit-per-second", "1000000", "--rate-limit-burst", "1000000"]

    /// A started broker on fresh temp dirs.
    static func start(_ arguments: [String] = []) throws -> BrokerProcess {
        let broker = try BrokerProcess(binary: TestBinary.path, arguments: arguments)
        try broker.start()
        return broker
    }

    /// A started broker with project `name` registered (env bindings for `secrets`, or the
    /// given manifest text) and `values` pushed.
    static func withProject(_ name: String = "proj", secrets: [String], manifest: String? = nil,
                            values: [(String, String)] = [], arguments: [String] = []) throws -> BrokerProcess {
        let broker = try start(arguments)
        try broker.registerProject(name, secrets: secrets, manifest: manifest)
        if !values.isEmpty { try broker.push(values) }
        return broker
    }
}

/// A test secret value (carries the marker so scans can prove it never leaks).
func secret(_ suffix: String) -> String { SecretMarker.value(suffix) }

/// Checks the exact error shape `{"ok":false,"code":...,"message":...}` (plus `extraKeys`).
func expectError(_ reply: Reply, _ code: String, extraKeys: [String] = [],
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let tree = reply.tree
    #expect(tree.keys.map(Set.init) == Set(["ok", "code", "message"] + extraKeys), "\(tree)", sourceLocation: sourceLocation)
    #expect(tree["ok"] == .bool(false), "\(tree)", sourceLocation: sourceLocation)
    #expect(tree["code"]?.string == code, "\(tree)", sourceLocation: sourceLocation)
    let message = tree["message"]?.string ?? ""
    #expect(!message.isEmpty, "\(tree)", sourceLocation: sourceLocation)
}

/// Checks a successful reply has exactly `keys` and `ok: true`.
func expectOK(_ reply: Reply, keys: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    let tree = reply.tree
    #expect(tree["ok"] == .bool(true), "\(tree)", sourceLocation: sourceLocation)
    #expect(tree.keys.map(Set.init) == Set(keys), "\(tree)", sourceLocation: sourceLocation)
}

/// `get` of a scalar: true when the reply is ok and its value is exactly `expected`
/// (compared, never printed).
func valueMatches(_ reply: Reply, _ expected: String) -> Bool {
    reply.ok && reply.string("value") == expected
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`; `fractionDigits` nil accepts none, else exactly that many.
func isRFC3339UTC(_ text: String, fractionDigits: Int? = nil) -> Bool {
    let bytes = Array(text.utf8)
    let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
    let shape = Array("dddd-dd-ddTdd:dd:dd".utf8)
    let expectedCount = shape.count + (fractionDigits.map { $0 + 1 } ?? 0) + 1
    guard bytes.count == expectedCount, bytes.last == UInt8(ascii: "Z") else { return false }
    for (index, pattern) in shape.enumerated() {
        if pattern == UInt8(ascii: "d") ? !digit(bytes[index]) : bytes[index] != pattern { return false }
    }
    if let fractionDigits {
        guard bytes[shape.count] == UInt8(ascii: ".") else { return false }
        return bytes[(shape.count + 1)..<(shape.count + 1 + fractionDigits)].allSatisfy(digit)
    }
    return true
}

/// Manifest text for project `name`: the header plus `body`.
func manifest(_ name: String, _ body: String = "") -> String {
    "schema_version = 1\nproject = \"\(name)\"\n" + body
}

extension JSONTree {
    /// The status entry of project `name`.
    func project(_ name: String) -> JSONTree? {
        self["projects"]?.array?.first { $0["name"]?.string == name }
    }
}

extension String {
    /// This text repeated up to exactly `count` bytes (ASCII only).
    static func filler(_ count: Int) -> String { String(repeating: "x", count: count) }
}

/// Failure messages show a reply with test secret values redacted (a `get` reply would
/// otherwise be printed byte by byte).
extension Reply: CustomTestStringConvertible {
    public var testDescription: String { redactedText }
}

/// Records an issue if `bytes` carry a test secret value, without printing them.
func expectNoSecret(_ bytes: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if SecretMarker.occurs(in: bytes) { Issue.record("\(what) carries a test secret value", sourceLocation: sourceLocation) }
}

func expectNoSecret(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    expectNoSecret(Array(text.utf8), what, sourceLocation: sourceLocation)
}
