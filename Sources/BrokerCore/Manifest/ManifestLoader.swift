/// Finds, reads and validates a project's manifest (SPEC §4). Strict: unknown keys and
/// tables are errors; every error names the file and, where known, line and column.
public enum ManifestLoader {
    /// Searched in this order under the project path.
    public static let candidates = [".remo/manifest.toml", ".devcontainer/remo-broker.toml", ".remo/broker.toml"]
    static let maxFileBytes = 1 << 20

    /// The first candidate that exists, or nil.
    public static func find(projectPath: String) -> String? {
        candidates.lazy.map { projectPath + "/" + $0 }.first { FileSystem.exists($0) }
    }

    /// - Parameter ceiling: the broker-wide cache defaults; a manifest may only lower them.
    public static func load(projectPath: String, project: String, ceiling: ProjectCache.Limits) throws(ManifestError) -> Manifest {
        guard let path = find(projectPath: projectPath) else { throw .notFound(projectPath) }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, maxBytes: maxFileBytes)
        } catch {
            throw .invalid(path, nil, "cannot read: \(error.errnoName)")
        }
        return try parse(bytes, path: path, project: project, ceiling: ceiling)
    }

    public static func parse(_ bytes: [UInt8], path: String, project: String, ceiling: ProjectCache.Limits) throws(ManifestError) -> Manifest {
        let root: TOMLTable
        do {
            root = try TOMLReader.parse(bytes)
        } catch {
            throw .invalid(path, error.position, error.message)
        }
        var validator = ManifestValidator(path: path, project: project, ceiling: ceiling)
        return try validator.validate(root)
    }
}
