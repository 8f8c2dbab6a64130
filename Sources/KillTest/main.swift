import BrokerCore
import BrokerHarness
import Glibc

// KillTest: SPEC §9's crash gate. SIGKILL under load, restart, and check what survives.

let help = """
    KillTest: runs load (gets, pings, infos and pushes) against a remo-broker, SIGKILLs it at a
    random moment, restarts it on the same directories, and checks every round: each
    registered project's socket answers again, a fresh push is served, the audit log parses
    line by line (a torn last line is reported and tolerated only as the very last line), its
    hash chain passes `audit --verify` (SPEC §11: torn lines reported, never a FAIL), and
    no secret value is in any file under the socket, state or audit directories.

    Usage: KillTest [options]
      --rounds N        kill/restart rounds (default 20; releases: 100)
      --projects N      projects registered (default 5)
      --rate HZ         requests per second per project during load (default 200)
      --push-every D    push a new generation this often during load (default 50ms)
      --min-delay D     earliest kill after the load starts (default 50ms)
      --max-delay D     latest kill (default 500ms)
      --seed N          random seed for the kill moments (default: the pid)
    """

let options = HarnessCommandLine(tool: "KillTest", help: help,
                                 valued: ["rounds", "projects", "rate", "push-every", "min-delay", "max-delay", "seed"])
let rounds = options.int("rounds", default: 20, in: 1...100_000)
let projectCount = options.int("projects", default: 5, in: 1...1000)
let rate = Double(options.int("rate", default: 200, in: 1...100_000))
let pushEvery = options.seconds("push-every", default: 0.05)
let minDelay = options.seconds("min-delay", default: 0.05)
let maxDelay = options.seconds("max-delay", default: 0.5)
let seed = UInt64(options.int("seed", default: Int(getpid()), in: 0...Int.max))
guard minDelay <= maxDelay else { options.usageError("--min-delay must not exceed --max-delay") }

/// What the rounds found, accumulated.
struct KillTally {
    var rounds = 0
    var totals = LoadTotals()
    var socketFailures: [String] = []
    var pushFailures: [String] = []
    var tornLines = 0
    /// Numbers of lines that do not parse and are not a torn tail of an earlier round.
    var badLines: Set<Int> = []
    var leaks: Set<String> = []
    var restart = LatencySamples()
    /// Rounds after which `audit --verify` did not pass (SPEC §11), with its FAIL line.
    var chainFailures: [String] = []
    var chainChecks = 0
    var chainTorn = 0
}

/// What `audit --verify` does, on the broker's whole log and its recorded head.
func verifyChain(_ broker: BrokerProcess) -> AuditChainVerifier.Report {
    AuditChainVerifier.verify(files: [broker.auditLogPath], recordedHead: AuditChainHead.read(broker.stateDir + "/audit.head"),
                              missingAsEmpty: [broker.auditLogPath])
}

@MainActor func runKillTest(into report: inout GateReport) throws {
    let secrets = MarkerSet(count: 4, valueBytes: 64)
    let broker = try BrokerProcess.launch(binary: options.brokerBinary, arguments: options.hardeningArguments)
    let projects = try broker.registerProjects(count: projectCount, secrets: secrets)
    var generation = 1
    try broker.push(secrets, generation: generation)

    var tally = KillTally()
    var random = SplitMix(seed: seed)
    /// Lines known to be torn tails of earlier rounds: tolerated where they now sit.
    var tornEarlier: Set<Int> = []
    for round in 1...rounds {
        var config = LoadDriver.Config(projects: projects, socketPath: { [dir = broker.socketDir] in dir + "/projects/\($0)/sock" },
                                       adminSocket: broker.adminSocket, secrets: secrets, ratePerProject: rate)
        config.workers = min(4, projectCount)
        config.pushEverySeconds = pushEvery
        config.tolerateDisconnects = true
        let clock = GenerationClock(initial: generation)
        let load = LoadDriver(config, generations: clock)
        try load.start()
        let delay = minDelay + (maxDelay - minDelay) * Double(random.next() % 10_001) / 10_000
        usleep(UInt32(delay * 1e6))
        try broker.stop(signal: SIGKILL)
        tally.totals.merge(load.stop())
        tally.rounds = round

        // The log as the crash left it: only its very last line may be torn.
        let scan = AuditLogReader.scan(broker.auditLogPath)
        tally.badLines.formUnion(scan.badLines.filter { !tornEarlier.contains($0) })
        if scan.tornLastLine {
            tally.tornLines += 1
            tornEarlier.insert(scan.lines)
        }
        tally.leaks.formUnion(MarkerScan.filesWithMarkers(under: [broker.socketDir, broker.stateDir, broker.auditLogPath]))
        let chain = verifyChain(broker)
        tally.chainChecks += 1
        if !chain.passed { tally.chainFailures.append("round \(round): \(chain.lines.first ?? "")") }

        let restartStart = Monotonic.nanoseconds()
        try broker.start(pollMicroseconds: 500)
        tally.restart.record(Monotonic.nanoseconds() - restartStart)
        for project in projects {
            let reply = try? broker.connect(project: project, timeoutSeconds: 5).request(op: "ping")
            if reply?.ok != true || reply?.string("project") != project { tally.socketFailures.append("round \(round): \(project)") }
        }
        generation = clock.latestStarted + 1
        do {
            try broker.push(secrets, generation: generation)
            var reply = try broker.connect(project: projects[round % projects.count]).request(MarkerSet.getRequest("s0"))
            if reply.string("value") != secrets.value("s0", generation: generation) {
                tally.pushFailures.append("round \(round): get after the fresh push did not return it")
            }
            reply.zeroize()
        } catch {
            tally.pushFailures.append("round \(round): \(SecretMarker.redacted("\(error)"))")
        }
    }
    try broker.stop()
    let final = AuditLogReader.scan(broker.auditLogPath)
    let finalChain = verifyChain(broker)
    tally.chainChecks += 1
    tally.chainTorn = finalChain.torn.count
    if !finalChain.passed { tally.chainFailures.append("after the last stop: \(finalChain.lines.first ?? "")") }
    let finalBad = final.badLines.filter { !tornEarlier.contains($0) && !tally.badLines.contains($0) }
    tally.leaks.formUnion(MarkerScan.filesWithMarkers(under: [broker.socketDir, broker.stateDir, broker.auditLogPath, broker.stderrPath]))
    summarize(tally, finalLog: final, finalBad: finalBad, into: &report)
}

@MainActor func summarize(_ tally: KillTally, finalLog: AuditLogScan, finalBad: [Int], into report: inout GateReport) {
    let totals = tally.totals
    report.add(GateRow("killtest rounds", "\(tally.rounds) SIGKILLs under load (\(totals.requests) requests, \(totals.pushes) pushes)",
                       must: "-", aim: "100 rounds", verdict: tally.rounds >= 100 ? .pass : .info))
    report.add(GateRow("sockets back, fresh push served", "\(tally.socketFailures.count + tally.pushFailures.count) failures",
                       must: "0", verdict: tally.socketFailures.isEmpty && tally.pushFailures.isEmpty ? .pass : .fail))
    let auditOK = tally.badLines.isEmpty && finalBad.isEmpty && finalLog.readError == nil
    report.add(GateRow("audit log parses", "\(finalLog.lines) lines, \(tally.badLines.count + finalBad.count) bad, "
                       + "\(tally.tornLines) torn last lines", must: "torn only at the end", verdict: auditOK ? .pass : .fail))
    report.add(GateRow("audit --verify after every round", "\(tally.chainChecks - tally.chainFailures.count) of \(tally.chainChecks) PASS, "
                       + "\(tally.chainTorn) torn lines reported at the end",
                       must: "all PASS", verdict: tally.chainFailures.isEmpty ? .pass : .fail))
    for failure in tally.chainFailures.prefix(10) { report.note(failure) }
    report.add(GateRow("files carrying a secret value", "\(tally.leaks.count)", must: "0", verdict: tally.leaks.isEmpty ? .pass : .fail))
    report.add(GateRow("wrong replies under load", "\(totals.errors)", must: "0", verdict: totals.errors == 0 ? .pass : .fail))
    let restart = tally.restart.summary()
    report.add(GateRow("restart after SIGKILL (p50 / max)", "\(Format.millis(restart.p50)) / \(Format.millis(restart.max)) ms", verdict: .info))
    for failure in (tally.socketFailures + tally.pushFailures).prefix(10) { report.note(failure) }
    for sample in totals.errorSamples { report.note("error: \(sample)") }
    for path in tally.leaks.sorted() { report.note("secret value found in \(path)") }
    if !finalBad.isEmpty { report.note("audit lines that do not parse: \(finalBad.prefix(10))") }
    report.note("seed \(seed); kill \(Format.millis(UInt64(minDelay * 1e9)))–\(Format.millis(UInt64(maxDelay * 1e9))) ms after the load starts; "
                + "\(totals.disconnects) client disconnects (expected)")
    report.metric("rounds", tally.rounds)
    report.metric("requests", totals.requests)
    report.metric("pushes", totals.pushes)
    report.metric("errors", totals.errors)
    report.metric("socket_failures", tally.socketFailures.count)
    report.metric("push_failures", tally.pushFailures.count)
    report.metric("audit_lines", finalLog.lines)
    report.metric("audit_bad_lines", tally.badLines.count + finalBad.count)
    report.metric("audit_torn_last_lines", tally.tornLines)
    report.metric("files_with_secrets", tally.leaks.count)
    report.metric("restart_p50_ns", Int(restart.p50))
}

var report = GateReport(tool: "KillTest")
do {
    try runKillTest(into: &report)
} catch {
    report.add(GateRow("run", "aborted: \(SecretMarker.redacted("\(error)"))", verdict: .fail))
}
report.finish(options.format)
