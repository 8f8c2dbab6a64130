import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc

// LatencyBench: the latency and throughput gates of SPEC §9, with the C echo baseline
// measured in the same run through the same client code and the same CPU pinning.

let help = """
    LatencyBench: warm get, ping, info and push-creds latency, start-up time, idle RSS and
    throughput of a remo-broker, beside a C epoll echo server measured in the same run.

    Usage: LatencyBench [options]
      --samples N           timed round trips per operation (default 20000; --quick 5000)
      --warmup N            untimed round trips before them (default 2000; --quick 500)
      --push-samples N      timed push-creds of ~10 KiB (default 500; --quick 200)
      --cold-starts N       fresh brokers timed from exec to the first status reply (default 20; --quick 5)
      --clients N           concurrent connections for the throughput run (default 50)
      --throughput-seconds D  length of each throughput run (default 3s; --quick 1.5s)
      --cpu N               CPU to pin client and server to (default: the last one this process may use)
      --split               pin the server to --cpu and the client to another CPU
      --no-pin              do not pin at all
      --echo PATH           the C baseline binary (default \(EchoBaseline.defaultBinary); `make baseline`)
      --rotations N         pushes timed from answer to the file rewritten by a running sync (default 200; 0 skips)
      --rotation-gap-ms N   pause between rotations (default 250: more than sync's 200 ms grouping window)
      --socket-dir DIR      attach to a running broker instead of spawning one (it registers a
                            project and PUSHES A TEST SET: never point it at a broker holding real secrets)
      --quick               the short CI variant
    Latency runs are pinned; the throughput run uses every CPU (both client and server need one).
    """

let options = HarnessCommandLine(
    tool: "LatencyBench", help: help,
    valued: ["rotations", "rotation-gap-ms", "samples", "warmup", "push-samples", "cold-starts", "clients", "throughput-seconds", "cpu", "echo", "socket-dir"],
    flags: ["split", "no-pin", "quick"])
let quick = options.arguments.has("quick")
let settings = BenchSettings(
    samples: options.int("samples", default: quick ? 5_000 : 20_000),
    warmup: options.int("warmup", default: quick ? 500 : 2_000, in: 0...Int.max),
    pushSamples: options.int("push-samples", default: quick ? 200 : 500),
    coldStarts: options.int("cold-starts", default: quick ? 5 : 20, in: 0...10_000),
    clients: options.int("clients", default: 50, in: 1...1000),
    throughputSeconds: options.seconds("throughput-seconds", default: quick ? 1.5 : 3),
    pinning: Pinning(options))
let echoBinary = options.arguments.value("echo") ?? EchoBaseline.defaultBinary
guard FileSystem.exists(echoBinary) else { options.usageError("no echo baseline at \(echoBinary): run `make baseline`") }

var report = GateReport(tool: "LatencyBench")
do {
    let bench = try BenchTarget(options: options)
    try runLatencyBench(bench, settings: settings, echoBinary: echoBinary, into: &report)
    measureSHA256(into: &report)
    if bench.attached == nil, settings.coldStarts > 0 {
        try measureColdStart(binary: options.brokerBinary, arguments: options.hardeningArguments,
                             runs: settings.coldStarts, into: &report)
    }
    let rotations = options.int("rotations", default: 200, in: 0...100_000)
    if bench.attached == nil, rotations > 0 {
        try measureRotation(binary: options.brokerBinary, arguments: options.hardeningArguments, rotations: rotations,
                            gapMilliseconds: options.int("rotation-gap-ms", default: 250, in: 0...60_000), into: &report)
    }
} catch {
    Console.error("LatencyBench: \(SecretMarker.redacted("\(error)"))")
    report.add(GateRow("run", "aborted: \(SecretMarker.redacted("\(error)"))", verdict: .fail))
}
report.finish(options.format)
