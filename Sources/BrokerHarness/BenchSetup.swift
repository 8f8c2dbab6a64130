import BrokerClient
import BrokerCore
import Glibc

/// The secret sets the harnesses push. Every value is a `SecretMarker` carrying its
/// generation (`REMO_TEST_MARKER_g<generation>_<name>_xxx…`), so a reader can tell which
/// push a `get` reply came from, and scans can prove no value reached a file or a report.
public struct MarkerSet: Sendable {
    public let names: [String]
    /// Bytes per value (at least the marker and generation; padded with 'x').
    public let valueBytes: Int

    /// `count` names `s0`…; `valueBytes` 1024 and `count` 10 make the ~10 KiB push of SPEC §9.
    public init(count: Int, valueBytes: Int = 64) {
        names = (0..<count).map { "s\($0)" }
        self.valueBytes = valueBytes
    }

    public func value(_ name: String, generation: Int) -> String {
        let head = SecretMarker.value("g\(generation)_\(name)_")
        return head + String(repeating: "x", count: max(0, valueBytes - head.utf8.count))
    }

    /// The generation a value was built for (nil if it is not one of ours).
    public static func generation(of value: String) -> Int? {
        guard value.hasPrefix(SecretMarker.prefix + "g") else { return nil }
        let digits = value.utf8.dropFirst(SecretMarker.prefix.utf8.count + 1).prefix { $0 >= 0x30 && $0 <= 0x39 }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// The `push-creds` request line for `generation`.
    public func pushRequest(generation: Int) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: names.count * (valueBytes + 16) + 64)
        writer.beginObject()
        writer.field("op", "push-creds")
        writer.key("secrets")
        writer.beginObject()
        for name in names { writer.field(name, value(name, generation: generation)) }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// The `get` request line for `name`.
    public static func getRequest(_ name: String) -> [UInt8] { Array("{\"op\":\"get\",\"name\":\"\(name)\"}\n".utf8) }
}

extension BrokerProcess {
    /// Rate limits high enough that a benchmark's own gets are never limited.
    public static let unlimitedRate = ["--rate-limit-per-second", "1000000", "--rate-limit-burst", "1000000"]

    /// A started broker on fresh temp dirs (under /dev/shm when present: short socket paths,
    /// no disk noise in latency figures).
    public static func launch(binary: String, arguments: [String]) throws -> BrokerProcess {
        let parent = FileSystem.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"
        let broker = try BrokerProcess(binary: binary, arguments: arguments, root: TempDirectory(prefix: "rb", in: parent))
        try broker.start()
        return broker
    }

    /// Registers `count` projects `<prefix>0`… each allowed every name in `secrets`.
    public func registerProjects(count: Int, prefix: String = "p", secrets: MarkerSet) throws -> [String] {
        let names = (0..<count).map { "\(prefix)\($0)" }
        for name in names { try registerProject(name, secrets: secrets.names) }
        return names
    }

    /// Pushes `secrets` at `generation` on a fresh admin connection.
    public func push(_ secrets: MarkerSet, generation: Int) throws {
        let reply = try admin().request(secrets.pushRequest(generation: generation))
        guard reply.ok else { throw HarnessError("push failed: \(reply.code ?? "?")") }
    }
}
