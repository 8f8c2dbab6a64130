import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc

/// SPEC §9 rotation: from `push-creds` answered to the file binding rewritten by a running
/// `sync` (seen through inotify as the rename into place), over `rotations` pushes spaced by
/// `gapMilliseconds` (more than sync's 200 ms window that groups changes after an applied one,
/// so each rotation is timed alone, as an hourly STS rotation would be).
func measureRotation(binary: String, arguments: [String], rotations: Int, gapMilliseconds: Int, into report: inout GateReport) throws {
    try CPUPinning.pin(to: CPUPinning.allCPUs)
    let broker = try BrokerProcess.launch(binary: binary, arguments: arguments + BrokerProcess.unlimitedRate)
    let parent = FileSystem.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"
    let files = try TempDirectory(prefix: "rot", in: parent)
    let filePath = files.file("token")
    try broker.registerProject("rotation", secrets: [], manifest: SyncFollower.manifest(name: "rotation", secret: "token", path: filePath))
    func push(_ round: Int) throws -> String {
        let value = SecretMarker.value("rotation_\(round)")
        try broker.push([("token", value)])
        return value
    }
    _ = try push(0)
    let sync = try SyncFollower(binary: binary, socket: broker.projectSocket("rotation"), filePath: filePath,
                                stderrPath: files.file("sync.stderr"))
    guard sync.waitForRewrite(timeoutMilliseconds: 10_000) != nil || sync.holds(SecretMarker.value("rotation_0")) else {
        throw HarnessError("sync did not deliver the first value")
    }
    usleep(UInt32(gapMilliseconds) * 1000)
    var samples = LatencySamples(capacity: rotations)
    var missed = 0, wrong = 0
    for round in 1...rotations {
        let value = try push(round)
        let answered = Monotonic.nanoseconds()
        if let seen = sync.waitForRewrite(timeoutMilliseconds: 2_000) {
            samples.record(seen &- answered)
            if !sync.holds(value) { wrong += 1 }
        } else {
            missed += 1
        }
        usleep(UInt32(gapMilliseconds) * 1000)
    }
    sync.stop()
    try broker.stop()
    let summary = samples.summary()
    let within = missed == 0 && wrong == 0 && summary.max <= 1_000_000_000
    report.add(GateRow("rotation: push answered → file rewritten by sync (p50 / p99)",
                       "\(Format.millis(summary.p50)) / \(Format.millis(summary.p99)) ms over \(rotations) (missed \(missed), wrong \(wrong))",
                       must: "≤ 1 s", aim: "p99 ≤ 50 ms",
                       verdict: .judged(must: within, aim: summary.p99 <= 50_000_000)))
    report.note("rotation (\(summary.count) samples): \(summary.microsecondsText)")
    report.metric("rotation_p50_ns", Int(summary.p50))
    report.metric("rotation_p99_ns", Int(summary.p99))
    report.metric("rotation_max_ns", Int(summary.max))
    report.metric("rotation_missed", missed)
}
