/// A project's validated manifest (schema_version 1): the allowlist and how each secret is
/// delivered inside the devcontainer.
public struct Manifest: Equatable, Sendable {
    /// The file it was read from.
    public let path: String
    public let project: String
    public let description: String?
    /// Sorted by secret name.
    public let bindings: [SecretBinding]
    public let cache: ProjectCache.Limits
    private let names: Set<String>

    public init(path: String, project: String, description: String?, bindings: [SecretBinding], cache: ProjectCache.Limits) {
        self.path = path
        self.project = project
        self.description = description
        self.bindings = bindings.sorted { $0.name < $1.name }
        self.cache = cache
        self.names = Set(bindings.map { $0.name })
    }

    /// Sorted secret names.
    public var allowlist: [String] { bindings.map { $0.name } }

    public func allows(_ name: String) -> Bool { names.contains(name) }
}

public struct SecretBinding: Equatable, Sendable {
    public enum Delivery: Equatable, Sendable {
        case env(variable: String)
        /// `path` is absolute or `~/...`; `mode` has no group/other write bit.
        case file(path: String, mode: UInt32, template: String)
    }

    public let name: String
    public let delivery: Delivery

    public init(name: String, delivery: Delivery) {
        self.name = name
        self.delivery = delivery
    }

    /// The `info` reply form: `{"name":..,"fetch_as":"env","env_var":..}` or
    /// `{"name":..,"fetch_as":"file","file_path":..,"file_mode":"0600","template":..}`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("name", name)
        switch delivery {
        case .env(let variable):
            writer.field("fetch_as", "env")
            writer.field("env_var", variable)
        case .file(let path, let mode, let template):
            writer.field("fetch_as", "file")
            writer.field("file_path", path)
            writer.field("file_mode", ConfigKeys.octal(mode))
            writer.field("template", template)
        }
        writer.endObject()
    }
}

public struct ManifestError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// None of the candidate files exists (`manifest_not_found`).
        case notFound
        /// The file exists but is not a valid manifest (`manifest_invalid`).
        case invalid
    }

    public let kind: Kind
    public let message: String

    public static func notFound(_ projectPath: String) -> ManifestError {
        ManifestError(kind: .notFound, message: "no manifest under \(projectPath) (looked for "
            + ManifestLoader.candidates.joined(separator: ", ") + ")")
    }

    /// `file:line:col: message` (line and column when known).
    public static func invalid(_ file: String, _ position: TOMLPosition?, _ message: String) -> ManifestError {
        let at = position.map { "\(file):\($0.line):\($0.column)" } ?? file
        return ManifestError(kind: .invalid, message: "\(at): \(message)")
    }

    public var description: String { message }
}
