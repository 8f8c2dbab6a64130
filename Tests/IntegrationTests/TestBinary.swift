import BrokerCore
import Glibc

/// The `remo-broker` built beside this test bundle (same build directory).
enum TestBinary {
    static let path: String = {
        if let override = getenv("REMO_BROKER_BINARY") { return String(cString: override) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(length > 0, "cannot resolve /proc/self/exe")
        let exe = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var components = exe.split(separator: "/", omittingEmptySubsequences: false)
        // .../debug/remo-brokerPackageTests.xctest
        components.removeLast()
        let path = components.joined(separator: "/") + "/remo-broker"
        precondition(FileSystem.exists(path), "remo-broker binary not found at \(path): run `swift build --build-tests` first")
        return path
    }()

    /// A harness executable of the same build as this test bundle (never REMO_BROKER_BINARY's
    /// directory: that may hold only the release binary).
    static func harness(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(length > 0, "cannot resolve /proc/self/exe")
        let exe = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let path = FileSystem.parentDirectory(exe) + "/" + name
        precondition(FileSystem.exists(path), "\(name) not found at \(path): run `swift build --build-tests` first")
        return path
    }
}
