import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc

/// `Soak --hostile-tenant`: during the soak, three extra projects attack the broker the way
/// issue 12 rows 2, 4 and 5 did (SPEC §13) while the usual load serves the victims:
/// - `hostile-flood`: three connections streaming 1 MiB writes of `\n`;
/// - `hostile-junk`: two connections streaming invalid lines (protocol_error, request.invalid);
/// - `hostile-guarded`: a uid outside `allowed_uids` holding 70 connections (root only).
/// A probe times `get`s on its own victim project, `hostile-victim`, every 25 ms (under the
/// default rate limit of 50/s): during the first quarter of the run nothing attacks (the quiet
/// p99), then the attacks run to the end.
final class HostileTenantScenario {
    let broker: BrokerProcess
    let attackStartsAfter: Double
    /// Opened by the first `probe(until:)` and closed by `stopAttacks`, so the soak's
    /// descriptor counts before and after do not include it.
    private var probe: BrokerConnection?
    private var probeClosed = false
    private let request: [UInt8]
    private var quiet = LatencySamples()
    private var hostile = LatencySamples()
    private(set) var probeFailures = 0
    private var floods: [SocketFlood] = []
    private var stranger: StrangerConnections?
    private(set) var notes: [String] = []

    init(broker: BrokerProcess, secretName: String, attackStartsAfter: Double) throws {
        self.broker = broker
        self.attackStartsAfter = attackStartsAfter
        try broker.registerProject("hostile-victim", secrets: [secretName])
        request = MarkerSet.getRequest(secretName)
        try broker.registerProject("hostile-flood", secrets: [])
        try broker.registerProject("hostile-junk", secrets: [])
        if geteuid() == 0 {
            let path = try ProjectFixture.create(in: broker.root, name: "hostile-guarded", secrets: [])
            guard try broker.register("hostile-guarded", path: path, allowedUIDs: [geteuid()]).ok else {
                throw HarnessError("register hostile-guarded failed")
            }
        }
    }

    /// Gets the probe has made (each is a `fetch` in the audit log).
    var probeGets: Int { quiet.count + hostile.count + probeFailures }

    var attacking: Bool { !floods.isEmpty }

    func startAttacks() throws {
        floods.append(try SocketFlood(path: broker.projectSocket("hostile-flood"), connections: 3, payload: .emptyLines))
        floods.append(try SocketFlood(path: broker.projectSocket("hostile-junk"), connections: 2, payload: .invalidLines))
        if geteuid() == 0 {
            let holder = try StrangerConnections(path: broker.projectSocket("hostile-guarded"), count: 70, uid: 4242, gid: 0)
            if holder.connected < 70 { notes.append("stranger connected only \(holder.connected) of 70 times") }
            stranger = holder
        } else {
            notes.append("row 5 (stranger uid) skipped: needs root")
        }
    }

    /// Probes until `deadline` (monotonic ns), one get every 25 ms.
    func probe(until deadline: UInt64) {
        while Monotonic.nanoseconds() < deadline {
            let started = Monotonic.nanoseconds()
            if probe == nil && !probeClosed {
                probe = try? BrokerConnection(path: broker.projectSocket("hostile-victim"), timeoutSeconds: 30)
            }
            guard let probe else {
                if !probeClosed { probeFailures += 1; notes.append("probe cannot connect") }
                return
            }
            do {
                var reply = try probe.request(request)
                let elapsed = Monotonic.nanoseconds() - started
                if reply.ok, MarkerSet.generation(of: reply.string("value") ?? "") != nil {
                    if attacking { hostile.record(elapsed) } else { quiet.record(elapsed) }
                } else {
                    probeFailures += 1
                }
                reply.zeroize()
            } catch {
                probeFailures += 1
                notes.append("probe failed: \(SecretMarker.redacted("\(error)"))")
                return
            }
            let next = started + 25_000_000
            let now = Monotonic.nanoseconds()
            if next > now { usleep(UInt32(min(next, deadline) > now ? (min(next, deadline) - now) / 1000 : 0)) }
        }
    }

    /// Stops every attack and the probe; returns the bytes the floods wrote.
    func stopAttacks() -> Int {
        probe = nil
        probeClosed = true
        let bytes = floods.reduce(0) { $0 + $1.bytesSent }
        for flood in floods { flood.stop() }
        floods = []
        stranger = nil
        return bytes
    }

    func addRows(to report: inout GateReport, floodBytes: Int) {
        let calm = quiet.summary(), attacked = hostile.summary()
        let ratio = calm.p99 > 0 ? Double(attacked.p99) / Double(calm.p99) : 0
        report.add(GateRow("hostile tenant: victim get p99", "quiet \(Format.millis(calm.p99)) ms (\(calm.count) gets) → "
                           + "under attack \(Format.millis(attacked.p99)) ms (\(attacked.count) gets), ×\(Format.fixed(ratio, 1))",
                           must: "answered, no error", aim: "microseconds, not seconds",
                           verdict: probeFailures == 0 && attacked.count > 0 ? .pass : .fail))
        report.add(GateRow("hostile tenant: attacks", "empty-line flood + invalid-line flood wrote \(floodBytes >> 20) MiB; "
                           + (geteuid() == 0 ? "stranger held 70 connections" : "stranger skipped (not root)"), verdict: .info))
        for note in notes { report.note("hostile tenant: \(note)") }
        report.metric("hostile_quiet_p99_us", Double(calm.p99) / 1000)
        report.metric("hostile_attacked_p99_us", Double(attacked.p99) / 1000)
        report.metric("hostile_attacked_max_us", Double(attacked.max) / 1000)
        report.metric("hostile_probe_failures", probeFailures)
    }
}
