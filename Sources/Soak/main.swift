import BrokerCore
import BrokerHarness
import Glibc

// Soak: SPEC §9's "50 projects × 10 Hz mixed get/ping/info" gate, with pushes during load.

let help = """
    Soak: runs mixed get/ping/info load against N projects of a fresh remo-broker for a while,
    pushing a new secret set every few seconds, and checks: no error, every get reply is the
    value of a generation current during the request, audit fetch lines == gets issued, RSS
    flat after warm-up (slope in KiB/min), open descriptors back to where they started, and
    no secret value in the audit log, state dir or broker stderr.

    Usage: Soak [options]
      --projects N        projects registered (default 50)
      --rate HZ           requests per second per project (default 10)
      --duration D        load duration (default 60s; releases: 1h)
      --push-every D      push a new generation this often during load (default 5s)
      --warmup D          RSS samples before this are ignored (default half of --duration, at most 5m)
      --workers N         client threads (default 4)
      --max-rss-growth N  MiB the RSS may grow after warm-up and still count as flat (default 1)
      --hostile-tenant    also replay issue 12's attacks (empty-line flood, invalid-line flood,
                          a stranger uid holding 70 connections) from three extra projects after
                          the first quarter of the run, and report a victim's get p99 quiet and
                          under attack (SPEC §13)
      --rotation-rounds N pushes of the rotation load (SPEC §10), after the mixed load (default 200; 0 skips)
      --rotation-syncs N  projects of the rotation load that also run a `sync` (default 5)
    RSS is flat when the mean of the last quarter of the samples after warm-up is at most
    --max-rss-growth above the mean of the first quarter. (glibc malloc settles in steps of
    up to ~2 MiB while 50 connections churn: single samples jump by ±0.5 MiB, so neither two
    samples nor a slope over 30 s make a stable gate; the slope is reported beside it. A 60 s
    run cannot tell such a step from a small leak: the CI run allows 4 MiB and catches gross
    leaks, the 1 h release soak at 1 MiB is the leak check.)
    """

let options = HarnessCommandLine(tool: "Soak", help: help,
                                 valued: ["rotation-rounds", "rotation-syncs", "projects", "rate", "duration", "push-every", "warmup",
                                          "workers", "max-rss-growth"],
                                 flags: ["hostile-tenant"])
let projectCount = options.int("projects", default: 50, in: 1...1000)
let rate = Double(options.int("rate", default: 10, in: 1...100_000))
let duration = options.seconds("duration", default: 60)
let pushEvery = options.seconds("push-every", default: 5)
let warmup = options.seconds("warmup", default: min(300, duration / 2))
let workers = options.int("workers", default: 4, in: 1...256)
let maxGrowthMiB = options.int("max-rss-growth", default: 1, in: 1...1024)
guard warmup < duration else { options.usageError("--warmup must be shorter than --duration") }
guard pushEvery < duration else { options.usageError("--push-every must be shorter than --duration (pushes during load are part of the gate)") }

var report = GateReport(tool: "Soak")

@MainActor func runSoak() throws {
    let secrets = MarkerSet(count: 4, valueBytes: 64)
    let broker = try BrokerProcess.launch(binary: options.brokerBinary, arguments: options.hardeningArguments)
    guard let pid = broker.pid else { throw HarnessError("broker not running") }
    let projects = try broker.registerProjects(count: projectCount, secrets: secrets)
    try broker.push(secrets, generation: 1)
    let hostile = options.arguments.has("hostile-tenant")
        ? try HostileTenantScenario(broker: broker, secretName: secrets.names[0], attackStartsAfter: duration / 4)
        : nil
    usleep(200_000)
    let fdsBefore = ProcReader.openFDs(pid) ?? -1

    var config = LoadDriver.Config(projects: projects, socketPath: { [socketDir = broker.socketDir] in socketDir + "/projects/\($0)/sock" },
                                   adminSocket: broker.adminSocket, secrets: secrets, ratePerProject: rate)
    config.workers = workers
    config.pushEverySeconds = pushEvery
    let load = LoadDriver(config, generations: GenerationClock(initial: 1))
    let start = Monotonic.nanoseconds()
    try load.start()

    // Sample RSS and descriptors once a second while the load runs.
    var samples: [(seconds: Double, sample: ProcSample)] = []
    while true {
        let elapsed = Double(Monotonic.nanoseconds() - start) / 1e9
        guard elapsed < duration else { break }
        guard let sample = ProcReader.sample(pid) else { throw HarnessError("broker died during the soak: \(broker.stderrText)") }
        samples.append((elapsed, sample))
        if let hostile {
            if !hostile.attacking && elapsed >= hostile.attackStartsAfter { try hostile.startAttacks() }
            hostile.probe(until: Monotonic.nanoseconds() + UInt64(min(1.0, duration - elapsed) * 1e9))
        } else {
            usleep(UInt32(min(1.0, duration - elapsed) * 1e6))
        }
    }
    let floodBytes = hostile?.stopAttacks() ?? 0
    let totals = load.stop()
    let elapsed = Double(Monotonic.nanoseconds() - start) / 1e9
    usleep(300_000)
    // A flooder's socket may still hold megabytes the broker reads to the end (one fair
    // share per wake-up) before it sees EOF and closes: give that a few seconds.
    if hostile != nil { _ = Poll.until(timeoutSeconds: 5) { (ProcReader.openFDs(pid) ?? -1) <= fdsBefore } }
    let fdsAfter = ProcReader.openFDs(pid) ?? -1
    let probeGets = hostile?.probeGets ?? 0
    let audit = AuditLogReader.waitForFetches(broker.auditLogPath, atLeast: totals.gets + probeGets)
    let leaks = MarkerScan.filesWithMarkers(under: [broker.stateDir, broker.auditLogPath, broker.stderrPath, broker.socketDir])
    try broker.stop()

    // RSS after warm-up: slope, and growth between the means of the first and last quarter.
    let steady = samples.filter { $0.seconds >= warmup }
    let rss = steady.map { (seconds: $0.seconds, value: Double($0.sample.rssKiB)) }
    let slope = Trend.slopePerMinute(rss)
    let quarter = max(1, rss.count / 4)
    let head = rss.prefix(quarter).map(\.value), tail = rss.suffix(quarter).map(\.value)
    let mean = { (values: [Double]) in values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
    let growth = mean(tail) - mean(head)
    let flat = rss.count >= 4 && growth <= Double(maxGrowthMiB * 1024)
    let peakFDs = samples.map(\.sample.fds).max() ?? 0

    report.add(GateRow("soak load", "\(projectCount) projects × \(Int(rate)) Hz, \(Format.fixed(elapsed, 0)) s, "
                       + "\(totals.requests) requests (\(totals.gets) gets), \(totals.pushes) pushes",
                       must: "-", aim: "1 h clean", verdict: duration >= 3600 ? .pass : .info))
    report.add(GateRow("soak errors", "\(totals.errors)", must: "0", verdict: totals.errors == 0 && totals.pushes > 0 ? .pass : .fail))
    let expectedFetches = totals.gets + probeGets
    report.add(GateRow("audit fetch lines == gets", "\(audit.fetches) == \(expectedFetches)", must: "equal, log parses",
                       verdict: audit.fetches == expectedFetches && audit.parsesCleanly && !audit.tornLastLine ? .pass : .fail))
    hostile?.addRows(to: &report, floodBytes: floodBytes)
    report.add(GateRow("RSS after warm-up", "\(Format.mebibytes(fromKiB: Int(mean(head)))) → \(Format.mebibytes(fromKiB: Int(mean(tail)))) MiB, "
                       + "slope \(Format.fixed(slope, 1)) KiB/min", must: "flat (≤ \(maxGrowthMiB) MiB growth)", verdict: flat ? .pass : .fail))
    report.add(GateRow("open descriptors before / after", "\(fdsBefore) / \(fdsAfter) (peak \(peakFDs))", must: "equal",
                       verdict: fdsBefore == fdsAfter && fdsBefore > 0 ? .pass : .fail))
    report.add(GateRow("files carrying a secret value", "\(leaks.count)", must: "0", verdict: leaks.isEmpty ? .pass : .fail))
    for sample in totals.errorSamples { report.note("error: \(sample)") }
    for path in leaks { report.note("secret value found in \(path)") }
    if !audit.badLines.isEmpty { report.note("audit lines that do not parse: \(audit.badLines.prefix(10))") }
    report.note("warm-up \(Format.fixed(warmup, 0)) s; \(rss.count) RSS samples after it; RSS growth \(Format.fixed(growth, 0)) KiB")
    report.metric("duration_s", elapsed)
    report.metric("requests", totals.requests)
    report.metric("gets", totals.gets)
    report.metric("pushes", totals.pushes)
    report.metric("errors", totals.errors)
    report.metric("audit_fetches", audit.fetches)
    report.metric("rss_slope_kib_per_min", slope)
    report.metric("rss_growth_kib", growth)
    report.metric("rss_end_kib", tail.last ?? 0)
    report.metric("fds_before", fdsBefore)
    report.metric("fds_after", fdsAfter)
}

@MainActor func runRotationLoad() throws {
    let rounds = options.int("rotation-rounds", default: 200, in: 0...1_000_000)
    guard rounds > 0 else { return }
    let load = RotationLoad(projects: projectCount, syncs: options.int("rotation-syncs", default: 5, in: 0...1000), rounds: rounds)
    let totals = try load.run(binary: options.brokerBinary, arguments: options.hardeningArguments)
    report.add(GateRow("rotation load", "\(projectCount) projects waiting (\(min(load.syncs, projectCount)) with sync), \(rounds) pushes, "
                       + "\(totals.changes) changes for a project", verdict: .info))
    report.add(GateRow("rotation: missed changes (wait / sync)", "\(totals.missed) / \(totals.syncMissed) of \(totals.changes) / \(totals.syncChanges)",
                       must: "0", verdict: totals.missed == 0 && totals.syncMissed == 0 && totals.changes > 0 ? .pass : .fail))
    report.add(GateRow("rotation: spurious wake-ups", "\(totals.spurious)", must: "0", verdict: totals.spurious == 0 ? .pass : .fail))
    let grew = totals.rssLast - totals.rssFirst
    report.add(GateRow("rotation: RSS / fds from a quarter in to the end",
                       "\(Format.mebibytes(fromKiB: totals.rssFirst)) → \(Format.mebibytes(fromKiB: totals.rssLast)) MiB, fds \(totals.fdsFirst) → \(totals.fdsLast)",
                       must: "flat (≤ \(maxGrowthMiB) MiB growth), fds equal",
                       verdict: grew <= maxGrowthMiB * 1024 && totals.fdsFirst == totals.fdsLast ? .pass : .fail))
    report.metric("rotation_changes", totals.changes)
    report.metric("rotation_missed", totals.missed + totals.syncMissed)
    report.metric("rotation_spurious", totals.spurious)
}

do {
    try runSoak()
    try runRotationLoad()
} catch {
    report.add(GateRow("run", "aborted: \(SecretMarker.redacted("\(error)"))", verdict: .fail))
}
report.finish(options.format)
