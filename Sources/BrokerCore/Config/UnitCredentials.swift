/// `[units."NAME.service"] secrets = [...]` tables (SPEC §12): which secrets each systemd unit
/// may load with `LoadCredential=ID:<credentials_socket>`. Read at start and again on SIGHUP.
public struct UnitCredentials: Equatable, Sendable {
    /// Unit name → the secret names it may load, sorted.
    public private(set) var secretsByUnit: [String: [String]] = [:]

    public init() {}

    public init(_ secretsByUnit: [String: [String]]) {
        self.secretsByUnit = secretsByUnit.mapValues { $0.sorted() }
    }

    public var isEmpty: Bool { secretsByUnit.isEmpty }
    public var count: Int { secretsByUnit.count }
    public var unitNames: [String] { secretsByUnit.keys.sorted() }

    /// Whether `unit` may load `secret`; false for a unit that is not configured.
    public func allows(unit: String, secret: String) -> Bool {
        secretsByUnit[unit]?.contains(secret) ?? false
    }

    /// Units that are new, gone, or whose list changed compared with `old`.
    public func changedUnits(since old: UnitCredentials) -> [String] {
        let gone = old.unitNames.filter { secretsByUnit[$0] == nil }
        return (unitNames.filter { secretsByUnit[$0] != old.secretsByUnit[$0] } + gone).sorted()
    }

    // MARK: parsing

    /// Unit types that take `LoadCredential=` (an exec context): services, sockets, mounts, swaps.
    static let unitSuffixes = [".service", ".socket", ".mount", ".swap"]

    /// The `units` table of a config file. Errors name `path:line:col` of the offending key.
    static func parse(_ entry: TOMLEntry, path: String) throws(ConfigError) -> UnitCredentials {
        func error(_ position: TOMLPosition, _ message: String) -> ConfigError {
            ConfigError(path + ":" + String(position.line) + ":" + String(position.column) + ": " + message)
        }
        guard case .table(let units) = entry.value else {
            throw error(entry.position, "units must be a table of [units.\"NAME.service\"] tables, not " + entry.value.typeName)
        }
        var result: [String: [String]] = [:]
        for unit in units.entries {
            guard isUnitName(unit.key) else {
                throw error(unit.position, "'" + Console.escapingControlCharacters(unit.key) + "' is not a systemd unit name "
                    + "ending in .service, .socket, .mount or .swap (a template instance is named in full: name@instance.service)")
            }
            let table = "units.\"" + unit.key + "\""
            guard case .table(let keys) = unit.value else { throw error(unit.position, table + " must be a table, not " + unit.value.typeName) }
            var secrets: [String]?
            for key in keys.entries {
                guard key.key == "secrets" else {
                    throw error(key.position, "unknown key '" + Console.escapingControlCharacters(key.key) + "' in " + table + " (only secrets)")
                }
                guard case .array(let values) = key.value else {
                    throw error(key.position, table + ".secrets must be an array of secret names, not " + key.value.typeName)
                }
                var names: [String] = []
                for (index, value) in values.enumerated() {
                    guard case .string(let name) = value, Names.isSecretName(name) else {
                        throw error(key.position, table + ".secrets #" + String(index + 1) + " must be a secret name (^[A-Za-z0-9_]{1,128}$)")
                    }
                    guard !names.contains(name) else { throw error(key.position, table + ".secrets names " + name + " twice") }
                    names.append(name)
                }
                secrets = names
            }
            guard let secrets else { throw error(unit.position, table + " needs secrets = [\"name\", ...]") }
            result[unit.key] = secrets
        }
        return UnitCredentials(result)
    }

    /// systemd's unit name rules (unit_name_is_valid): at most 255 bytes of
    /// `[A-Za-z0-9:_.\\@-]`, a non-empty name before one of the exec unit suffixes.
    static func isUnitName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard bytes.count <= 255, let suffix = unitSuffixes.first(where: { name.hasSuffix($0) }),
              bytes.count > suffix.utf8.count, bytes.first != UInt8(ascii: ".")
        else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "@"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }
}

/// What systemd asks for when it connects to the credentials socket: it binds its end to
/// the abstract address `\0<random>/unit/<unit>/<credential id>` first (systemd ≥ 247;
/// the form verified with systemd 252). Anyone who can reach the socket can bind such an
/// address, which is why only uid 0 is served.
public struct UnitCredentialRequest: Equatable, Sendable {
    public let unit: String
    /// The credential id: `name` or `name.field`.
    public let id: String

    public init(unit: String, id: String) {
        self.unit = unit
        self.id = id
    }

    /// Parses the peer's `sun_path` bytes (as long as the address, not NUL-terminated). nil
    /// for a path address, an unbound peer, or any other shape (the unit and id must be
    /// printable ASCII: systemd's unit names are, and ids this broker serves are too).
    public init?(peerAddress bytes: some Collection<UInt8>) {
        guard bytes.first == 0 else { return nil }
        let parts = bytes.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 4, !parts[0].isEmpty, parts[1].elementsEqual("unit".utf8),
              !parts[2].isEmpty, !parts[3].isEmpty,
              parts[2].allSatisfy({ $0 > 0x20 && $0 < 0x7F }), parts[3].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        let unit = String(decoding: parts[2], as: UTF8.self)
        guard UnitCredentials.isUnitName(unit) else { return nil }
        self.unit = unit
        self.id = String(decoding: parts[3], as: UTF8.self)
    }

    /// The secret name and, for `name.field`, the field. nil when the id is neither.
    public var secretAndField: (secret: String, field: String?)? { Self.secretAndField(of: id) }

    /// `id` as `name` or `name.field` (each part a well-formed name), else nil.
    public static func secretAndField(of id: String) -> (secret: String, field: String?)? {
        let pieces = id.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = pieces.first, Names.isSecretName(String(first)) else { return nil }
        guard pieces.count == 2 else { return (String(first), nil) }
        guard Names.isSecretName(String(pieces[1])) else { return nil }
        return (String(first), String(pieces[1]))
    }
}
