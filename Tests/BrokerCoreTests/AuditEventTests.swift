@testable import BrokerCore
import Glibc
import Testing

@Suite struct AuditEventTests {
    private let time = WallClockTime(seconds: 1_795_608_000, nanoseconds: 123_456_789)
    private let peer = AuditTestSupport.peer

    /// Every SPEC §6 event, with the keys (in order) and JSON kinds its line must have.
    private var catalogue: [(AuditEvent, [(String, String)])] {
        let head = [("ts", "string"), ("event", "string")]
        let peerFields = [("peer_pid", "number"), ("peer_uid", "number"), ("peer_gid", "number")]
        let project = [("project", "string"), ("allowlist_size", "number")]
        return [
            (.fetch(requester: .project("p"), secretName: "gh", decision: .deny, outcome: .denied, reason: .notInAllowlist,
                    peer: peer, latencyMicros: 17),
             head + [("project", "string"), ("secret_name", "string"), ("decision", "string"),
                     ("outcome", "string"), ("reason", "string")] + peerFields + [("latency_us", "number")]),
            (.fetch(requester: .project("p"), secretName: "gh", decision: .allow, outcome: .ok, reason: nil,
                    peer: peer, latencyMicros: 3),
             head + [("project", "string"), ("secret_name", "string"), ("decision", "string"),
                     ("outcome", "string")] + peerFields + [("latency_us", "number")]),
            (.fetch(requester: .unit("ci.service"), secretName: "aws.key_id", decision: .allow, outcome: .ok, reason: nil,
                    peer: peer, latencyMicros: 3),
             head + [("unit", "string"), ("secret_name", "string"), ("decision", "string"),
                     ("outcome", "string")] + peerFields + [("latency_us", "number")]),
            (.peerUnexpected(scope: .socket("credentials"), peer: peer), head + [("socket", "string")] + peerFields),
            (.secretsPushed(secretCount: 10, peerUID: 0), head + [("secret_count", "number"), ("peer_uid", "number")]),
            (.secretsCleared(previousCount: 10, peerUID: 0), head + [("previous_count", "number"), ("peer_uid", "number")]),
            (.projectRegistered(project: "p", allowlistSize: 2), head + project),
            (.projectUnregistered(project: "p", allowlistSize: 2), head + project),
            (.projectReloaded(project: "p", allowlistSize: 1, added: ["aws"], removed: []),
             head + project + [("added", "array"), ("removed", "array")]),
            (.manifestChanged(project: "p", pinnedSHA256: String(repeating: "a", count: 64), fileSHA256: nil),
             head + [("project", "string"), ("pinned_sha256", "string"), ("file_sha256", "null")]),
            (.manifestChanged(project: "p", pinnedSHA256: String(repeating: "a", count: 64), fileSHA256: String(repeating: "b", count: 64)),
             head + [("project", "string"), ("pinned_sha256", "string"), ("file_sha256", "string")]),
            (.manifestPinned(project: "p", pinnedSHA256: String(repeating: "a", count: 64), fileSHA256: String(repeating: "a", count: 64)),
             head + [("project", "string"), ("pinned_sha256", "string"), ("file_sha256", "string")]),
            (.manifestInvalid(project: "p", error: "/x/.remo/manifest.toml:3:1: unknown key"),
             head + [("project", "string"), ("error", "string")]),
            (.peerUnexpected(scope: .project("p"), peer: peer), head + [("project", "string")] + peerFields),
            (.requestInvalid(socket: "admin", code: "protocol_error"), head + [("socket", "string"), ("code", "string")]),
            (.brokerStarted(version: "2.0.0", pid: 99, hardening: HardeningStatus(seccomp: true)),
             head + [("version", "string"), ("pid", "number"), ("hardening", "object")]),
            (.brokerStopping(version: "2.0.0", pid: 99, reason: "SIGTERM"),
             head + [("version", "string"), ("pid", "number"), ("reason", "string")]),
            (.auditDegraded(droppedEvents: 0), head + [("dropped_events", "number")]),
            (.auditRecovered(droppedEvents: 5), head + [("dropped_events", "number")]),
        ]
    }

    /// A unit's credential id is `name` or `name.field`; anything else is logged as the
    /// placeholder, since the id is peer bytes.
    @Test func unitFetchLogsWellFormedCredentialIDsOnly() throws {
        for (id, logged) in [("gh", "gh"), ("aws.aws_access_key_id", "aws.aws_access_key_id"),
                             ("a.b.c", "<invalid>"), ("gh.", "<invalid>"), (".gh", "<invalid>"), ("x y", "<invalid>")] {
            let line = try AuditLine(AuditEvent.fetch(.unit("ci.service"), secretName: id, outcome: .denied, peer: peer,
                                                      latencyMicros: 1).encodedLine(at: time))
            #expect(line.string("secret_name") == logged, "\(id)")
            #expect(line.string("unit") == "ci.service")
        }
    }

    @Test func everyEventIsOneJSONLineWithExactlyTheSpecifiedKeys() throws {
        for (event, expected) in catalogue {
            let bytes = event.encodedLine(at: time)
            #expect(bytes.last == UInt8(ascii: "\n"))
            #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1, "\(event.name) must be one line")
            let line = try AuditLine(bytes)
            #expect(line.keys == expected.map(\.0), "keys of \(event.name)")
            for (key, kind) in expected {
                #expect(line.kind(key) == kind, "\(event.name).\(key) should be a \(kind)")
            }
            #expect(line.event == event.name)
            #expect(line.string("ts") == "2026-11-25T12:00:00.123456Z")
        }
        #expect(Set(catalogue.map(\.0.name)).count == 15)
    }

    @Test func eventNamesAreThoseOfTheSpec() {
        let names = Set(catalogue.map(\.0.name))
        #expect(names == ["fetch", "secrets.pushed", "secrets.cleared", "project.registered",
                          "project.unregistered", "project.reloaded", "manifest.changed", "manifest.pinned", "manifest.invalid", "peer.unexpected",
                          "request.invalid", "broker.started", "broker.stopping", "audit.degraded",
                          "audit.recovered"])
    }

    @Test func fieldValuesAreEncodedFaithfully() throws {
        let fetch = try AuditLine(AuditEvent.fetch(.project("project-a"), secretName: "OPENAI_KEY",
                                                   outcome: .rateLimited, peer: peer, latencyMicros: 812)
            .encodedLine(at: time))
        #expect(fetch.string("project") == "project-a")
        #expect(fetch.string("secret_name") == "OPENAI_KEY")
        #expect(fetch.string("decision") == "deny")
        #expect(fetch.string("outcome") == "rate_limited")
        #expect(fetch.string("reason") == "rate_limited")
        #expect(fetch.int("peer_pid") == 4242 && fetch.int("peer_uid") == 1000 && fetch.int("peer_gid") == 1001)
        #expect(fetch.int("latency_us") == 812)

        let started = try AuditLine(AuditEvent.brokerStarted(
            version: "2.0.0", pid: 7, hardening: HardeningStatus(memoryLocked: true, dumpable: false)
        ).encodedLine(at: time))
        guard case .object(let members)? = started.document["hardening"] else {
            Issue.record("hardening is not an object")
            return
        }
        #expect(members.map { started.document.string($0.key) }
            == ["memory_locked", "seccomp", "capabilities_dropped", "no_new_privs", "dumpable"])
        #expect(started.document.member("memory_locked", of: members) == .bool(true))
        #expect(started.document.member("dumpable", of: members) == .bool(false))

        let uid = try AuditLine(AuditEvent.secretsPushed(secretCount: 3, peerUID: UInt32.max).encodedLine(at: time))
        #expect(uid.int("peer_uid") == 4_294_967_295)
    }

    @Test func outcomeDeterminesDecisionAndReason() {
        #expect(AuditEvent.Outcome.ok.decision == .allow && AuditEvent.Outcome.ok.denyReason == nil)
        #expect(AuditEvent.Outcome.notFound.decision == .allow && AuditEvent.Outcome.notFound.denyReason == nil)
        #expect(AuditEvent.Outcome.denied.decision == .deny && AuditEvent.Outcome.denied.denyReason == .notInAllowlist)
        #expect(AuditEvent.Outcome.rateLimited.decision == .deny
            && AuditEvent.Outcome.rateLimited.denyReason == .rateLimited)
        #expect(AuditEvent.Outcome.notFound.rawValue == "not_found")
    }

    @Test func malformedSecretNamesNeverReachTheLog() throws {
        let hostile = ["", String(repeating: "a", count: 129), "ghp_abc-def", "a b", "é", "x\ny",
                       "nul\u{0}", "ghp_16C7e42F292c6912E7710c838347Ae178B4a\"}", "../etc/passwd"]  // leak-check: allow (GitHub's published example token)
        for name in hostile {
            let bytes = AuditEvent.fetch(.project("p"), secretName: name, outcome: .denied, peer: peer,
                                         latencyMicros: 1).encodedLine(at: time)
            let line = try AuditLine(bytes)
            #expect(line.string("secret_name") == "<invalid>")
            if !name.isEmpty { #expect(!bytes.contains(name.utf8), "raw client bytes reached the log") }
        }
        for name in ["gh", "A_z09", String(repeating: "Z", count: 128)] {
            let line = try AuditLine(AuditEvent.fetch(.project("p"), secretName: name, outcome: .ok, peer: peer,
                                                      latencyMicros: 1).encodedLine(at: time))
            #expect(line.string("secret_name") == name)
        }
    }

    @Test func freeTextIsEscapedAndClipped() throws {
        let long = String(repeating: "é", count: 600) + "TAIL"  // 1204 bytes
        let bytes = AuditEvent.manifestInvalid(project: "p", error: "line1\nline2\"" + long).encodedLine(at: time)
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let error = try #require(try AuditLine(bytes).string("error"))
        #expect(error.hasPrefix("line1\nline2\""))
        #expect(error.utf8.count <= AuditEvent.maxTextBytes && error.utf8.count >= AuditEvent.maxTextBytes - 1)
        #expect(!error.hasSuffix("TAIL"))
    }

    @Test func statusObjectHasTheSpecKeys() throws {
        var writer = JSONWriter()
        AuditStatus(path: "/var/log/remo-broker/audit.log", degraded: true, droppedEvents: 12).write(to: &writer)
        let line = try AuditLine(writer.bytes)
        #expect(line.keys == ["path", "degraded", "dropped_events"])
        #expect(line.document["degraded"] == .bool(true))
        #expect(line.int("dropped_events") == 12)
    }
}

@Suite struct AuditWallClockTimeTests {
    @Test func formatsKnownInstants() {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00Z"),
            (951_868_799, "2000-02-29T23:59:59Z"),
            (946_684_799, "1999-12-31T23:59:59Z"),
            (1_735_689_599, "2024-12-31T23:59:59Z"),
            (1_795_608_000, "2026-11-25T12:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ]
        for (seconds, expected) in cases {
            #expect(WallClockTime(seconds: seconds).rfc3339Seconds == expected)
        }
    }

    @Test func microsecondsAreTruncatedToSixDigits() {
        #expect(WallClockTime(seconds: 1_795_608_000, nanoseconds: 123_456_789).rfc3339Microseconds
            == "2026-11-25T12:00:00.123456Z")
        #expect(WallClockTime(seconds: 1_795_608_000, nanoseconds: 999_999_999).rfc3339Microseconds
            == "2026-11-25T12:00:00.999999Z")
        #expect(WallClockTime(seconds: 0, nanoseconds: 1000).rfc3339Microseconds == "1970-01-01T00:00:00.000001Z")
    }

    @Test func outOfRangeValuesAreNormalisedAndClamped() {
        #expect(WallClockTime(seconds: 10, nanoseconds: -1).rfc3339Microseconds == "1970-01-01T00:00:09.999999Z")
        #expect(WallClockTime(seconds: 0, nanoseconds: 2_000_000_000).seconds == 2)
        #expect(WallClockTime(seconds: .max).rfc3339Seconds == "9999-12-31T23:59:59Z")
        #expect(WallClockTime(seconds: .min).rfc3339Seconds == "0000-01-01T00:00:00Z")
    }

    @Test func civilConversionMatchesAnIndependentInverse() {
        // Every day across four centuries, both directions.
        for days in stride(from: -800_000, through: 800_000, by: 1) {
            let date = WallClockTime.civil(fromDaysSinceEpoch: Int64(days))
            let back = AuditTestSupport.daysFromCivil(year: date.year, month: date.month, day: date.day)
            if back != days {
                Issue.record("day \(days) -> \(date) -> \(back)")
                return
            }
        }
    }

    @Test func liveStampsAreMicrosecondUTC() throws {
        let before = Int(time(nil))
        let line = try AuditLine(AuditEvent.auditRecovered(droppedEvents: 0).encodedLine(at: .now()))
        let after = Int(time(nil))
        let stamp = try #require(line.string("ts"))
        #expect(AuditTestSupport.isMicrosecondUTCStamp(stamp), "\(stamp)")
        let seconds = AuditTestSupport.epochSeconds(ofStamp: stamp)
        #expect(seconds >= before && seconds <= after, "ts must be UTC now: \(stamp)")
        #expect(line.keys.first == "ts")
    }
}
