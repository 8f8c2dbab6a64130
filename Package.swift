// swift-tools-version:6.0
import PackageDescription

// No third-party dependencies: binary size and attack surface are release gates (DESIGN.md §2).
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
        .target(name: "BrokerCore", dependencies: ["CSeccomp"]),
        .target(name: "BrokerClient", dependencies: ["BrokerCore"]),
        .executableTarget(name: "remo-broker", dependencies: ["BrokerCore", "BrokerClient"]),
        // What the harnesses and the integration tests share: temp dirs, a broker child
        // process, fixtures, audit and /proc readers.
        .target(name: "BrokerHarness", dependencies: ["BrokerClient"]),
        .executableTarget(name: "Soak", dependencies: ["BrokerHarness"]),
        .executableTarget(name: "KillTest", dependencies: ["BrokerHarness"]),
        .executableTarget(name: "LatencyBench", dependencies: ["BrokerHarness"]),
        // Fuzz targets (fuzz/, `make fuzz`): the library is also replayed by the unit tests;
        // RemoFuzz is a libFuzzer binary under -DREMO_FUZZING, else a small replay tool.
        .target(name: "FuzzTargets", dependencies: ["BrokerCore"]),
        .executableTarget(name: "RemoFuzz", dependencies: ["BrokerCore", "FuzzTargets"]),
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore", "FuzzTargets"]),
        .testTarget(name: "IntegrationTests", dependencies: ["BrokerHarness", "remo-broker"]),
    ]
)
