// swift-tools-version:6.0
import PackageDescription

// No third-party dependencies: binary size and attack surface are release gates (DESIGN.md §2).
//
// REMO_EMBEDDED=<dir of the toolchain's embedded x86_64-unknown-linux-gnu libraries> builds the
// product modules in Embedded Swift for the shipped static binary (`make release`). It is an
// environment variable, not a package trait, so the flag never leaks into the full-Swift
// build that the tests, harnesses and fuzzers use (XCTest and Swift Testing cannot import an
// Embedded module).
let embeddedLibraries = Context.environment["REMO_EMBEDDED"].flatMap { $0.isEmpty ? nil : $0 }

// REMO_DEBUG_ATTEMPT=1 compiles in `serve --debug-attempt` (a forbidden syscall after hardening,
// to prove the filter kills), which debug builds always have: `make test-embedded` builds an
// Embedded binary with it for the hardening tests. Never in `make release`.
let debugAttempt: [SwiftSetting] = Context.environment["REMO_DEBUG_ATTEMPT"] == "1" ? [.define("REMO_DEBUG_ATTEMPT")] : []
// -Osize, not -O: 151 KB smaller (1.88 vs 2.03 MiB once LoadCredential= landed), with warm `get`
// latency equal within run-to-run noise (docs/BENCHMARKS.md, "Binary size").
let productSwiftSettings: [SwiftSetting] = (embeddedLibraries == nil ? [] : [
    .enableExperimentalFeature("Embedded"),
    .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-function-sections"]),
]) + debugAttempt
let productLinkerSettings: [LinkerSetting] = embeddedLibraries.map { libraries in
    [.unsafeFlags(["-Xlinker", libraries + "/libswiftUnicodeDataTables.a",
                   "-lseccomp", "-lcap", "-lm", "-Xlinker", "--gc-sections", "-Xclang-linker", "-static"])]
} ?? []

let package = Package(
    name: "remo-broker",
    products: [
        .executable(name: "remo-broker", targets: ["remo-broker"]),
    ],
    targets: [
        // C shim over libseccomp, libcap and the libc calls Swift cannot import. No policy here.
        .target(
            name: "CSeccomp",
            linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("cap"), .linkedLibrary("m")]
        ),
        .target(name: "BrokerCore", dependencies: ["CSeccomp"], swiftSettings: productSwiftSettings),
        .target(name: "BrokerClient", dependencies: ["BrokerCore"], swiftSettings: productSwiftSettings),
        .executableTarget(name: "remo-broker", dependencies: ["BrokerCore", "BrokerClient"],
                          swiftSettings: productSwiftSettings, linkerSettings: productLinkerSettings),
        // What the harnesses and the integration tests share: temp dirs, a broker child
        // process, fixtures, audit and /proc readers.
        .target(name: "BrokerHarness", dependencies: ["BrokerClient"]),
        .executableTarget(name: "Soak", dependencies: ["BrokerHarness"]),
        .executableTarget(name: "KillTest", dependencies: ["BrokerHarness"]),
        .executableTarget(name: "LatencyBench", dependencies: ["BrokerHarness"]),
        // systemd's LoadCredential= side, run by the tests as another uid.
        .executableTarget(name: "CredentialProbe", dependencies: ["BrokerHarness"]),
        // Fuzz targets (fuzz/, `make fuzz`): the library is also replayed by the unit tests;
        // RemoFuzz is a libFuzzer binary under -DREMO_FUZZING, else a small replay tool.
        .target(name: "FuzzTargets", dependencies: ["BrokerCore"]),
        .executableTarget(name: "RemoFuzz", dependencies: ["BrokerCore", "FuzzTargets"]),
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore", "FuzzTargets"]),
        .testTarget(name: "IntegrationTests", dependencies: ["BrokerHarness", "remo-broker", "CredentialProbe"]),
    ]
)
