import BrokerCore
import FuzzTargets
import Glibc

// Built two ways (ci/fuzz.sh):
// - `make fuzz`: -sanitize=fuzzer,address -DREMO_FUZZING. REMO_FUZZ_TARGET picks the target
//   (json, toml, wire, manifest, keyvalue); libFuzzer's driver then runs it.
// - a normal build: a replay tool, `RemoFuzz TARGET FILE...`, to rerun a crash input
//   without sanitizers.

#if REMO_FUZZING
nonisolated(unsafe) private var selected: (@Sendable (UnsafeRawBufferPointer) -> Void)?

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main` (aliased to `main`), so the
/// fuzz build defines that and hands control to libFuzzer's driver instead of its main().
@_cdecl("RemoFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    let name = getenv("REMO_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTargets.named(name) else {
        Console.error("RemoFuzz: set REMO_FUZZ_TARGET to one of \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
        return 2
    }
    selected = target
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in
        selected?(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
@main enum RemoFuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTargets.named(name) else {
            Console.error("usage: RemoFuzz TARGET FILE... (targets: \(FuzzTargets.all.map(\.name).joined(separator: ", ")))")
            exit(64)
        }
        for path in arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { Console.error("RemoFuzz: cannot open \(path)"); exit(66) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[0..<count] }
            fclose(file)
            bytes.withUnsafeBytes { target($0) }
            print("ok \(path)")
        }
    }
}
#endif
