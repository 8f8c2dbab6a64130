import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// SPEC §3.2 "Only an admin changes an allowlist": the devcontainer owns its manifest file,
/// so the broker serves what `register`/`reload` pinned, never what the file says later.
@Suite struct ManifestPinningTests {
    static let granted = manifest("alpha", "[secrets.gh]\n")
    static let grabbed = manifest("alpha", "[secrets.gh]\n[secrets.aws_prod]\n")

    /// The attack of issue 11: the container adds a secret to its manifest, the broker
    /// restarts, the sidecar re-pushes. The new secret must stay denied.
    @Test(arguments: [SIGTERM, SIGKILL])
    func editedManifestIsIgnoredAcrossARestart(_ signal: Int32) throws {
        let first = try Broker.withProject("alpha", secrets: [], manifest: Self.granted)
        try first.root.write("projects/alpha/.remo/manifest.toml", Self.grabbed)
        try first.stop(signal: signal)

        let second = try BrokerProcess(binary: TestBinary.path, root: first.root)
        try second.start()
        try second.push([("gh", secret("gh")), ("aws_prod", secret("prod"))])
        let project = try second.connect(project: "alpha")
        expectError(try project.request(op: "get", [("name", "aws_prod")]), "denied")
        #expect(valueMatches(try project.request(op: "get", [("name", "gh")]), secret("gh")), "value mismatch")
        #expect(try project.request(op: "info").tree["allowlist"]?.strings == ["gh"])
        #expect(try second.status().project("alpha")?["manifest_changed"] == .bool(true))

        let fileDigest = SHA256.hexDigest(Array(Self.grabbed.utf8))
        let pinned = SHA256.hexDigest(Array(Self.granted.utf8))
        let changed = second.waitForAuditEvent { $0.event == "manifest.changed" }
        #expect(changed?["project"]?.string == "alpha")
        #expect(changed?["pinned_sha256"]?.string == pinned)
        #expect(changed?["file_sha256"]?.string == fileDigest)
        let human = try runCLI(["status", "--socket-dir", second.socketDir])
        #expect(human.stdout.contains("MANIFEST CHANGED"), "\(human.stdout)")
    }

    /// A removed or broken file changes nothing, now or after a restart; `file_sha256` is
    /// null when there is no usable file.
    @Test(arguments: ["removed", "broken"])
    func removedOrBrokenManifestChangesNothing(_ variant: String) throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted, values: [("gh", secret("gh"))])
        let file = broker.root.file("projects/alpha/.remo/manifest.toml")
        let broken = "schema_version = 1\nproject = \"alpha\"\n[secrets.gh\n"
        if variant == "removed" { unlink(file) } else { try broker.root.write("projects/alpha/.remo/manifest.toml", broken) }
        #expect(try broker.status().project("alpha")?["manifest_changed"] == .bool(true))
        #expect(valueMatches(try broker.connect(project: "alpha").request(op: "get", [("name", "gh")]), secret("gh")))
        let event = broker.waitForAuditEvent { $0.event == "manifest.changed" }
        #expect(event?["file_sha256"] == (variant == "removed" ? .null : .string(SHA256.hexDigest(Array(broken.utf8)))))

        try broker.stop()
        let again = try BrokerProcess(binary: TestBinary.path, root: broker.root)
        try again.start()
        try again.push([("gh", secret("gh2"))])
        #expect(valueMatches(try again.connect(project: "alpha").request(op: "get", [("name", "gh")]), secret("gh2")))
        #expect(try again.status().project("alpha")?["manifest_changed"] == .bool(true))
    }

    @Test func reloadAppliesTheChangeAndItSurvivesARestart() throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted)
        try broker.root.write("projects/alpha/.remo/manifest.toml", Self.grabbed)
        let reply = try broker.adminRequest(#"{"op":"reload","name":"alpha"}"#)
        expectOK(reply, keys: ["ok", "allowlist", "added", "removed"])
        #expect(reply.tree["added"]?.strings == ["aws_prod"] && reply.tree["removed"]?.strings == [])
        #expect(try broker.status().project("alpha")?["manifest_changed"] == .bool(false))
        let reloaded = broker.waitForAuditEvent { $0.event == "project.reloaded" }
        #expect(reloaded?["added"]?.strings == ["aws_prod"] && reloaded?["removed"]?.strings == [])

        try broker.stop(signal: SIGKILL)
        let again = try BrokerProcess(binary: TestBinary.path, root: broker.root)
        try again.start()
        try again.push([("aws_prod", secret("prod"))])
        #expect(valueMatches(try again.connect(project: "alpha").request(op: "get", [("name", "aws_prod")]), secret("prod")))
        #expect(try again.status().project("alpha")?["manifest_changed"] == .bool(false))
        #expect(!again.auditEvents().contains { $0.event == "manifest.changed" })
    }

    /// `dry_run` reports what a reload would grant and changes nothing: no registry write,
    /// no cache flush, no audit event, even when the manifest is invalid.
    @Test func dryRunReportsWithoutApplying() throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted, values: [("gh", secret("gh"))])
        let project = try broker.connect(project: "alpha")
        #expect(try project.request(op: "get", [("name", "gh")]).ok)
        try broker.root.write("projects/alpha/.remo/manifest.toml", manifest("alpha", "[secrets.aws_prod]\n"))
        let registryBefore = try FileSystem.readFile(broker.stateDir + "/registry.json")

        let reply = try broker.adminRequest(#"{"op":"reload","name":"alpha","dry_run":true}"#)
        expectOK(reply, keys: ["ok", "allowlist", "added", "removed"])
        #expect(reply.tree["allowlist"]?.strings == ["aws_prod"])
        #expect(reply.tree["added"]?.strings == ["aws_prod"] && reply.tree["removed"]?.strings == ["gh"])
        let cli = try runCLI(["reload", "alpha", "--dry-run", "--socket-dir", broker.socketDir])
        #expect(cli.status.exitCode == 0 && cli.stdout.contains("+ aws_prod") && cli.stdout.contains("- gh"), "\(cli.output)")
        #expect(cli.stdout.contains("dry run"), "\(cli.stdout)")

        try broker.root.write("projects/alpha/.remo/manifest.toml", "schema_version = 1\nproject = \"alpha\"\nbogus = 1\n")
        expectError(try broker.adminRequest(#"{"op":"reload","name":"alpha","dry_run":true}"#), "manifest_invalid")
        expectError(try broker.adminRequest(#"{"op":"reload","name":"alpha","dry_run":"yes"}"#), "protocol_error")

        #expect(try FileSystem.readFile(broker.stateDir + "/registry.json") == registryBefore, "registry written")
        #expect(try broker.status().project("alpha")?["cache_entries"]?.int == 1, "cache flushed")
        #expect(try project.request(op: "info").tree["allowlist"]?.strings == ["gh"])
        #expect(broker.waitForAuditEvent { $0.event == "request.invalid" } != nil)  // the last request's event
        let events = broker.auditEvents().compactMap { $0.event }
        #expect(!events.contains("project.reloaded") && !events.contains("manifest.invalid"), "\(events)")
    }

    /// Each way a manifest could lead out of the project, at every candidate location.
    static let escapes = ["manifest symlink", "remo dir symlink", "legacy symlink", "relative symlink inside"]

    @Test(arguments: escapes)
    func symlinkAtRegisterIsManifestInvalid(_ variant: String) throws {
        let broker = try Broker.start()
        let outside = try broker.root.write("outside/manifest.toml", Self.grabbed)
        let project = broker.root.file("projects/alpha")
        try FileSystem.createDirectories(project + "/.remo", mode: 0o755)
        try FileSystem.createDirectories(project + "/.devcontainer", mode: 0o755)
        switch variant {
        case "manifest symlink": symlink(outside, project + "/.remo/manifest.toml")
        case "remo dir symlink":
            rmdir(project + "/.remo")
            symlink(broker.root.file("outside"), project + "/.remo")
        case "legacy symlink": symlink(outside, project + "/.devcontainer/remo-broker.toml")
        default:
            // Even a link that stays inside is refused: the rule is "no symlink", simply checked.
            _ = try broker.root.write("projects/alpha/real.toml", Self.grabbed)
            symlink("../real.toml", project + "/.remo/manifest.toml")
        }
        let reply = try broker.register("alpha", path: project)
        expectError(reply, "manifest_invalid")
        #expect(reply.message?.contains("symlink") == true, "\(reply.text)")
        #expect(try broker.status()["projects"]?.array?.isEmpty == true)
        #expect(!FileSystem.exists(broker.socketDir + "/projects/alpha"))
    }

    @Test func symlinkSwappedInAfterRegisterIsRefusedAndReported() throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted)
        let outside = try broker.root.write("outside/manifest.toml", Self.grabbed)
        let file = broker.root.file("projects/alpha/.remo/manifest.toml")
        unlink(file)
        symlink(outside, file)
        expectError(try broker.adminRequest(#"{"op":"reload","name":"alpha"}"#), "manifest_invalid")
        #expect(try broker.connect(project: "alpha").request(op: "info").tree["allowlist"]?.strings == ["gh"])
        #expect(try broker.status().project("alpha")?["manifest_changed"] == .bool(true))
        #expect(broker.waitForAuditEvent { $0.event == "manifest.changed" }?["file_sha256"] == .null)

        try broker.stop()
        let again = try BrokerProcess(binary: TestBinary.path, root: broker.root)
        try again.start()
        #expect(try again.connect(project: "alpha").request(op: "info").tree["allowlist"]?.strings == ["gh"])
    }

    /// SPEC §13: a FIFO (or any non-regular file) where the manifest belongs is
    /// `manifest_invalid` at once; neither reload nor a restart ever waits on it.
    @Test(arguments: ["fifo", "directory", "socket", "oversized"])
    func nonRegularManifestIsRefusedWithoutBlocking(_ kind: String) throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted, values: [("gh", secret("gh"))])
        try broker.registerProject("victim", secrets: ["gh"])
        let file = broker.root.file("projects/alpha/.remo/manifest.toml")
        unlink(file)
        var listener: Int32 = -1
        switch kind {
        case "fifo": #expect(mkfifo(file, 0o644) == 0)
        case "directory": #expect(mkdir(file, 0o755) == 0)
        case "socket": listener = try UnixSocket.listen(at: file, mode: 0o600)
        default: _ = try broker.root.write("projects/alpha/.remo/manifest.toml", String(repeating: "#", count: (1 << 20) + 1))
        }
        defer { if listener >= 0 { close(listener) } }
        let reply = try broker.adminRequest(#"{"op":"reload","name":"alpha"}"#)
        expectError(reply, "manifest_invalid")
        #expect(try broker.status().project("alpha")?["manifest_changed"] == .bool(true))
        #expect(try broker.connect(project: "victim").request(op: "get", [("name", "gh")]).ok)

        // A new project with such a file is refused the same way.
        let other = broker.root.file("projects/beta")
        try FileSystem.createDirectories(other + "/.remo", mode: 0o755)
        if kind == "fifo" { #expect(mkfifo(other + "/.remo/manifest.toml", 0o644) == 0) } else { symlink(file, other + "/.remo/manifest.toml") }
        expectError(try broker.register("beta", path: other), "manifest_invalid")

        try broker.stop(signal: SIGKILL)
        let again = try BrokerProcess(binary: TestBinary.path, root: broker.root)
        try again.start()  // fails (times out) if start-up opened the FIFO
        try again.push([("gh", secret("gh"))])
        #expect(valueMatches(try again.connect(project: "alpha").request(op: "get", [("name", "gh")]), secret("gh")))
    }

    /// A registry written by 0.1.0 has no pins: the first start pins each project from its
    /// file (`manifest.pinned`), rewrites the registry, and from then on ignores edits.
    @Test func registryFromBeforePinningIsPinnedAtFirstStart() throws {
        let root = try TempDirectory(prefix: "rb")
        let path = try ProjectFixture.create(in: root, name: "legacy", secrets: [], manifest: manifest("legacy", "[secrets.gh]\n"))
        _ = try root.write("state/registry.json",
                           #"{"version":1,"projects":[{"name":"legacy","project_path":"\#(path)","allowed_uids":[0]}]}"# + "\n",
                           mode: 0o600)
        let broker = try BrokerProcess(binary: TestBinary.path, root: root)
        try broker.start()
        #expect(try broker.connect(project: "legacy").request(op: "info").tree["allowlist"]?.strings == ["gh"])
        let digest = SHA256.hexDigest(Array(manifest("legacy", "[secrets.gh]\n").utf8))
        let pinned = broker.waitForAuditEvent { $0.event == "manifest.pinned" }
        #expect(pinned?["project"]?.string == "legacy" && pinned?["pinned_sha256"]?.string == digest
                && pinned?["file_sha256"]?.string == digest)
        let registry = try JSONTree(parsing: try FileSystem.readFile(broker.stateDir + "/registry.json"))
        #expect(registry["version"]?.int == 2)
        let entry = try #require(registry["projects"]?.array?.first)
        #expect(entry["allowed_uids"]?.array?.count == 1)
        #expect(entry["manifest"]?["sha256"]?.string == digest)
        #expect(entry["manifest"]?["secrets"]?.array?.first?["name"]?.string == "gh")

        try root.write("projects/legacy/.remo/manifest.toml", manifest("legacy", "[secrets.gh]\n[secrets.aws_prod]\n"))
        try broker.stop()
        let again = try BrokerProcess(binary: TestBinary.path, root: root)
        try again.start()
        #expect(try again.connect(project: "legacy").request(op: "info").tree["allowlist"]?.strings == ["gh"])
        #expect(again.auditEvents().filter { $0.event == "manifest.pinned" }.count == 1)
    }

    @Test func manifestChangedIsAuditedOncePerFileDigest() throws {
        let broker = try Broker.withProject("alpha", secrets: [], manifest: Self.granted)
        func changedEvents() -> [JSONTree] { broker.auditEvents().filter { $0.event == "manifest.changed" } }
        try broker.root.write("projects/alpha/.remo/manifest.toml", Self.grabbed)
        for _ in 0..<3 { _ = try broker.status() }
        #expect(Poll.until { changedEvents().count == 1 })
        try broker.root.write("projects/alpha/.remo/manifest.toml", Self.grabbed + "# again\n")
        for _ in 0..<3 { _ = try broker.status() }
        #expect(Poll.until { changedEvents().count == 2 })
        // Back to the approved bytes: no longer changed, and nothing to report.
        try broker.root.write("projects/alpha/.remo/manifest.toml", Self.granted)
        #expect(try broker.status().project("alpha")?["manifest_changed"] == .bool(false))
        usleep(200_000)
        #expect(changedEvents().count == 2)
    }
}
