import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// SO_PEERCRED checks (SPEC §3.2 "Peer checks"). Running a client as another uid needs root
/// (setpriv); without root these tests are skipped and say why.
@Suite(.enabled(if: geteuid() == 0, "needs root: a client must run as a uid other than the test runner's (setpriv)"))
struct PeerTests {
    /// A uid that is not ours; the client runs with gid 0 so that the socket directory
    /// (mode 0750, group root) and socket (0660) let it in, and only the uid check can refuse.
    static let otherUID: UInt32 = 4242

    static func brokerWithGuardedProject(allowed: [UInt32]) throws -> BrokerProcess {
        let broker = try Broker.start()
        let path = try ProjectFixture.create(in: broker.root, name: "guarded", secrets: ["a"])
        let reply = try broker.register("guarded", path: path, allowedUIDs: allowed)
        guard reply.ok else { throw HarnessError("register failed: \(reply.text)") }
        try broker.push([("a", secret("guarded"))])
        return broker
    }

    @Test func unexpectedUIDGetsPeerUnexpectedAndIsClosed() throws {
        let broker = try Self.brokerWithGuardedProject(allowed: [Self.otherUID])
        let connection = try broker.connect(project: "guarded", timeoutSeconds: 10)
        let reply = try connection.request(op: "get", [("name", "a")])
        expectError(reply, "peer_unexpected")
        expectNoSecret(reply.raw, "the reply to a refused peer")
        #expect(connection.waitForClose(timeoutSeconds: 5) == .closed(discardedBytes: 0))

        let event = broker.waitForAuditEvent { $0.event == "peer.unexpected" }
        #expect(event?["project"]?.string == "guarded")
        #expect(event?["peer_uid"]?.int == Int(geteuid()))
        #expect(event?["peer_gid"]?.int == Int(getegid()))
        #expect(event?["peer_pid"]?.int == Int(getpid()))
        // No fetch was served to it.
        #expect(!broker.auditEvents().contains { $0.event == "fetch" && $0["outcome"]?.string == "ok" })
    }

    @Test func pingFromAnUnexpectedUIDIsRefusedToo() throws {
        let broker = try Self.brokerWithGuardedProject(allowed: [Self.otherUID])
        let connection = try broker.connect(project: "guarded", timeoutSeconds: 10)
        // The refusal is written at accept and the socket closed at once: the send may find
        // it closed already (EPIPE), and the refusal is still there to read.
        _ = try? connection.send(text: "{\"op\":\"ping\"}\n{\"op\":\"info\"}\n")
        expectError(try connection.receive(), "peer_unexpected")
        #expect(connection.waitForClose(timeoutSeconds: 5) == .closed(discardedBytes: 0), "answered after peer_unexpected")
    }

    @Test func allowedUIDIsServed() throws {
        let broker = try Self.brokerWithGuardedProject(allowed: [Self.otherUID])
        let result = try CommandRunner.run(TestBinary.path, ["get", "a", "--socket", broker.projectSocket("guarded")],
                                           as: .init(uid: Self.otherUID, gid: 0))
        #expect(result.exitCode == 0, "\(result)")
        let same = result.stdoutText == secret("guarded") + "\n"
        #expect(same, "value mismatch")
        let event = broker.waitForAuditEvent { $0.event == "fetch" }
        #expect(event?["peer_uid"]?.int == Int(Self.otherUID))
        #expect(event?["peer_gid"]?.int == 0)
        #expect(event?["outcome"]?.string == "ok")
        #expect(!broker.auditEvents().contains { $0.event == "peer.unexpected" })
    }

    @Test func everyListedUIDIsServedAndOthersAreNot() throws {
        let broker = try Self.brokerWithGuardedProject(allowed: [Self.otherUID, geteuid()])
        #expect(valueMatches(try broker.connect(project: "guarded").request(op: "get", [("name", "a")]), secret("guarded")),
                "value mismatch")
        let stranger = try CommandRunner.run(TestBinary.path, ["get", "a", "--socket", broker.projectSocket("guarded")],
                                             as: .init(uid: Self.otherUID + 1, gid: 0))
        #expect(stranger.exitCode == 1)
        let refused = stranger.stderrText.contains("peer_unexpected")
        #expect(refused, "\(stranger)")
        expectNoSecret(stranger.stdout + stranger.stderr, "the output of a refused get")
    }

    /// allowed_uids are part of the registry: a restarted broker still refuses other uids.
    @Test func allowedUIDsSurviveARestart() throws {
        let first = try Self.brokerWithGuardedProject(allowed: [Self.otherUID])
        try first.stop()
        let second = try BrokerProcess(binary: TestBinary.path, root: first.root)
        try second.start()
        try second.push([("a", secret("again"))])
        expectError(try second.connect(project: "guarded").request(op: "get", [("name", "a")]), "peer_unexpected")
        let allowed = try CommandRunner.run(TestBinary.path, ["get", "a", "--socket", second.projectSocket("guarded")],
                                            as: .init(uid: Self.otherUID, gid: 0))
        let same = allowed.exitCode == 0 && allowed.stdoutText == secret("again") + "\n"
        #expect(same, "allowed uid not served after a restart")
    }

    /// Without allowed_uids anyone who can reach the socket is served.
    @Test func projectWithoutAllowedUIDsServesAnyPeer() throws {
        let broker = try Broker.withProject("open", secrets: ["a"], values: [("a", secret("open"))])
        let result = try CommandRunner.run(TestBinary.path, ["get", "a", "--socket", broker.projectSocket("open")],
                                           as: .init(uid: Self.otherUID, gid: 0))
        let same = result.exitCode == 0 && result.stdoutText == secret("open") + "\n"
        #expect(same, "\(result)")
    }

    /// The socket directory keeps out a uid outside the socket's group.
    @Test func uidOutsideTheSocketGroupCannotConnect() throws {
        let broker = try Broker.withProject("closed", secrets: ["a"], values: [("a", secret("closed"))])
        let result = try CommandRunner.run(TestBinary.path, ["get", "a", "--socket", broker.projectSocket("closed")],
                                           as: .init(uid: Self.otherUID, gid: Self.otherUID))
        #expect(result.exitCode == 69, "\(result)")
        expectNoSecret(result.stdout + result.stderr, "the output of an unreachable get")
    }
}
