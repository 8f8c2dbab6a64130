import BrokerCore
import Glibc

/// Locates the vendored conformance cases, Tests/Fixtures/conformance (or $REMO_CONFORMANCE_DIR).
/// Conformance tests must fail, never skip, when they are missing.
enum Conformance {
    static var directory: String {
        if let override = getenv("REMO_CONFORMANCE_DIR") { return String(cString: override) }
        // #filePath = <root>/Tests/BrokerCoreTests/Conformance.swift
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(2)
        return components.joined(separator: "/") + "/Fixtures/conformance"
    }

    /// Path of `relative` under the conformance directory, or an error naming what is missing.
    static func path(_ relative: String) throws -> String {
        let path = directory + "/" + relative
        guard FileSystem.exists(path) else { throw Missing(path: path) }
        return path
    }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "conformance data not found at \(path): the repository carries it in Tests/Fixtures/conformance (or set REMO_CONFORMANCE_DIR)"
        }
    }
}
