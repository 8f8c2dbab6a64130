import BrokerCore

/// The fuzz targets: each takes arbitrary bytes to one parser of untrusted input and must
/// return (error or not) without trapping, leaking or reading out of bounds. Shared by the
/// libFuzzer executable (RemoFuzz, built with -sanitize=fuzzer,address by `make fuzz`) and by
/// FuzzCorpusTests, which replays every committed corpus file in the normal test run, so a
/// crash once found stays a regression test.
public enum FuzzTargets {
    /// Name → target; the name is also the corpus directory (fuzz/corpus/<name>).
    public static let all: [(name: String, run: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        ("json", json), ("toml", toml), ("wire", wire), ("manifest", manifest), ("keyvalue", keyValue),
        ("registry", registry), ("config", config),
    ]

    public static func named(_ name: String) -> (@Sendable (UnsafeRawBufferPointer) -> Void)? {
        all.first { $0.name == name }?.run
    }

    /// The strict JSON reader, with the default options and the wire's (duplicate keys
    /// rejected, shallow), and every number read back as an integer and a double.
    public static func json(_ data: UnsafeRawBufferPointer) {
        for options in [JSONReader.Options(), JSONReader.Options(maxDepth: 8, rejectDuplicateKeys: true)] {
            withMutableCopy(data) { buffer in
                guard let root = try? JSONReader.parse(inPlace: buffer, options: options) else { return }
                visit(root, JSONBuffer(UnsafeBufferPointer(buffer)))
            }
        }
    }

    /// The strict TOML 1.0 reader.
    public static func toml(_ data: UnsafeRawBufferPointer) {
        _ = try? TOMLReader.parse(Array(data))
    }

    /// One request line as a project socket and the admin socket decode it; a push-creds
    /// line is also loaded into a secret store (validation, arena allocation and release).
    public static func wire(_ data: UnsafeRawBufferPointer) {
        withMutableCopy(data) { line in
            guard case .success(let (members, op)) = RequestDecoder.parseObject(line) else { return }
            let buffer = JSONBuffer(UnsafeBufferPointer(line))
            _ = RequestDecoder.project(members, op: op, buffer: buffer)
            if case .success(.pushCreds(let secrets)) = RequestDecoder.admin(members, op: op, buffer: buffer) {
                _ = try? store.replace(with: secrets, in: buffer, now: WallClockTime(seconds: 0))
            }
        }
    }

    /// Manifest validation (schema v1 and the legacy form) on whatever the TOML reader accepts.
    public static func manifest(_ data: UnsafeRawBufferPointer) {
        let ceiling = ProjectCache.Limits(ttlSeconds: 900, maxEntries: 32)
        _ = try? ManifestLoader.parse(Array(data), path: "/fuzz/project-a/.remo/manifest.toml", project: "project-a", ceiling: ceiling)
    }

    /// The registry reader (version 1 and 2, pinned manifests); what it accepts must write
    /// back to a document it reads the same way.
    public static func registry(_ data: UnsafeRawBufferPointer) {
        guard let records = try? RegistryFile.decode(Array(data)) else { return }
        let again = try? RegistryFile.decode(RegistryFile.encode(records))
        precondition(again.map { Set($0.map { $0.name }) } == Set(records.map { $0.name }), "registry round trip lost a project")
    }

    /// The config file (the `[units]` tables included: SIGHUP reads them while serving), and
    /// the same bytes as a credentials-socket peer address.
    public static func config(_ data: UnsafeRawBufferPointer) {
        if let config = try? ConfigLoader.parse(Array(data), path: "/fuzz/config.toml") {
            for unit in config.units.unitNames { precondition(!unit.isEmpty, "an empty unit name was accepted") }
        }
        _ = UnitCredentialRequest(peerAddress: Array(data))?.secretAndField
    }

    /// The `KEY=VALUE` (and JSON) secret-set parser of `remo-broker push`.
    public static func keyValue(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        for format in [SecretSetFile.Format.env, SecretSetFile.Format.detect(bytes)] {
            guard var set = try? SecretSetFile(bytes, format: format) else { continue }
            set.zeroize()
        }
    }

    // MARK: helpers

    /// A small unlocked arena for the wire target (built once: mmap per input would dominate).
    nonisolated(unsafe) static let store: SecretStore = {
        guard let arena = try? SecretArena(capacity: 1 << 20, requireLock: false) else { fatalError("fuzz: no arena") }
        return SecretStore(arena: arena)
    }()

    static func withMutableCopy(_ data: UnsafeRawBufferPointer, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        // An exact-size heap copy: ASan then catches a read one past the end of the input.
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: data.count)
        defer { copy.deallocate() }
        _ = copy.initialize(from: data)
        body(copy)
    }

    static func visit(_ value: JSONValue, _ buffer: JSONBuffer) {
        switch value {
        case .number(let number):
            _ = buffer.int64(number)
            _ = buffer.double(number)
        case .string(let span): _ = buffer.slice(span)
        case .array(let items): items.forEach { visit($0, buffer) }
        case .object(let members): members.forEach { _ = buffer.slice($0.key); visit($0.value, buffer) }
        case .null, .bool: break
        }
    }
}
