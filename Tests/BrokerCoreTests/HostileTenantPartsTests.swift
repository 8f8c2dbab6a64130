@testable import BrokerCore
import Glibc
import Testing

/// The parts behind SPEC §13 that need no broker process: stderr escaping, the audit
/// budget, the descriptor arithmetic, the socket-directory rules and the log throttle.
@Suite struct HostileTenantPartsTests {
    @Test func stderrLinesEscapeEveryControlCharacter() {
        #expect(Console.escapingControlCharacters("plain text: ok") == "plain text: ok")
        #expect(Console.escapingControlCharacters("key\nremo-broker: forged") == "key\\nremo-broker: forged")
        #expect(Console.escapingControlCharacters("a\r\tb\u{1B}[2J\u{7F}") == "a\\r\\tb\\x1b[2J\\x7f")
        #expect(Console.escapingControlCharacters("c1\u{85}ls\u{2028}é") == "c1\\u{85}ls\\u{2028}é")
        #expect(!Console.escapingControlCharacters("\u{0}\u{1}\u{1F}").unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test func auditBudgetAllowsTenPerSocketAndKindAndSummarisesTheRest() {
        var budget = AuditBudget()
        let first = budget.closeWindow(second: 100)
        #expect(first.isEmpty)
        let flood = AuditBudget.Key(scope: .socket("flood"), kind: .requestInvalid)
        let other = AuditBudget.Key(scope: .project("flood"), kind: .peerUnexpected)
        let admin = AuditBudget.Key(scope: .socket("admin"), kind: .requestInvalid)
        let admitted = (0..<25).filter { _ in budget.admit(flood) }.count
        #expect(admitted == AuditBudget.perSecond)
        let otherKinds = [budget.admit(other), budget.admit(admin)]
        #expect(otherKinds == [true, true], "budgets are per socket and per event")
        let sameSecond = budget.closeWindow(second: 100)
        #expect(sameSecond.isEmpty, "same second: nothing to summarise yet")
        let summaries = budget.closeWindow(second: 101)
        #expect(summaries == [.auditSuppressed(scope: .socket("flood"), suppressedEvent: "request.invalid", count: 15)])
        let fresh = budget.admit(flood)
        #expect(fresh, "a new second starts from zero")
        for _ in 0..<11 { _ = budget.admit(other) }
        let next = budget.closeWindow(second: 102)
        #expect(next == [.auditSuppressed(scope: .project("flood"), suppressedEvent: "peer.unexpected", count: 1)])
    }

    @Test func auditSuppressedEncodesItsFields() {
        let line = String(decoding: AuditEvent.auditSuppressed(scope: .project("p"), suppressedEvent: "peer.unexpected", count: 60)
            .encodedLine(at: WallClockTime(seconds: 1_795_608_000)), as: UTF8.self)
        #expect(line.contains("\"event\":\"audit.suppressed\",\"project\":\"p\",\"suppressed_event\":\"peer.unexpected\",\"count\":60"))
        #expect(AuditEvent.requestInvalid(socket: "admin", code: "protocol_error").owner == "admin")
        #expect(AuditEvent.secretsCleared(previousCount: 1, peerUID: 0).owner == nil)
    }

    @Test func maxConnectionsMustFitUnderTheDescriptorLimit() throws {
        var defaulted = BrokerConfig(environment: Environment(uid: 0, variables: [:]))
        let roomy = try defaulted.fitConnections(toDescriptorLimit: 1_048_576)
        #expect(roomy == nil)
        #expect(defaulted.maxConnections == 1024)
        let warning = try defaulted.fitConnections(toDescriptorLimit: 1024)
        #expect(defaulted.maxConnections == 1024 - BrokerConfig.descriptorReserve)
        #expect(warning?.contains("lowered from 1024 to 992") == true, "\(warning ?? "")")

        var configured = BrokerConfig(environment: Environment(uid: 0, variables: [:]))
        try ConfigKeys.named("max_connections")!.apply(&configured, .flag("1000"))
        var refusedError: ConfigError?
        do { _ = try configured.fitConnections(toDescriptorLimit: 1024) } catch { refusedError = error }
        #expect(refusedError?.message.contains("max_connections 1000 plus 32 reserved descriptors exceeds RLIMIT_NOFILE 1024") == true)
        #expect(configured.maxConnections == 1000, "a refused value is not changed")
        let exact = try configured.fitConnections(toDescriptorLimit: 1032)
        #expect(exact == nil, "exactly max + reserve fits")
    }

    @Test func adminSocketModeDefaultsTo0600UnlessRoot() throws {
        #expect(BrokerConfig(environment: Environment(uid: 0, variables: [:])).adminSocketMode == 0o660)
        var user = BrokerConfig(environment: Environment(uid: 1000, variables: [:]))
        #expect(user.adminSocketMode == 0o600)
        try ConfigKeys.named("admin_socket_mode")!.apply(&user, .flag("0660"))
        #expect(user.adminSocketMode == 0o660, "an explicit value is honoured")
    }

    @Test func socketDirectoryMustBeOwnedPrivateAndReal() throws {
        var template = Array("/tmp/rb-dir-XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        defer { _ = rmdir(root + "/fresh"); _ = rmdir(root + "/open"); _ = unlink(root + "/link"); _ = rmdir(root) }
        let me = geteuid()
        try SocketDirectory.prepare(root + "/fresh", owners: [me])
        #expect(FileSystem.isDirectory(root + "/fresh"))
        #expect(throws: SocketDirectory.Untrusted.self) { try SocketDirectory.prepare(root + "/fresh", owners: [me &+ 1]) }

        #expect(mkdir(root + "/open", 0o700) == 0 && chmod(root + "/open", 0o770) == 0)
        #expect(throws: SocketDirectory.Untrusted.self) { try SocketDirectory.prepare(root + "/open", owners: [me]) }
        #expect(symlink(root + "/fresh", root + "/link") == 0)
        #expect(throws: SocketDirectory.Untrusted.self) { try SocketDirectory.prepare(root + "/link", owners: [me]) }
        // Clients: a directory of their own (or root's) is trusted.
        try SocketDirectory.trusts(adminSocket: root + "/fresh/admin.sock")
    }

    @Test func logThrottleWritesAtMostOneLinePerIntervalWithACount() {
        var throttle = LogThrottle(intervalNanos: 1000)
        let lines = [10_000, 10_100, 10_500, 11_000].map { throttle.occurrence(now: UInt64($0)) }
        #expect(lines == [1, nil, nil, 3])
    }
}
