/// Finds, reads and validates a project's manifest (SPEC §4). Strict: unknown keys and
/// tables are errors; every error names the file and, where known, line and column.
///
/// The manifest lives in a workspace the devcontainer can write, so it is read through
/// `ProjectFile` (no symlink out of the project, regular files only, size and time capped),
/// and what an admin approved is pinned by the SHA-256 of the bytes read (SPEC §3.2).
public enum ManifestLoader {
    /// Searched in this order under the project path.
    public static let candidates = [".remo/manifest.toml", ".devcontainer/remo-broker.toml", ".remo/broker.toml"]
    static let maxFileBytes = 1 << 20

    /// The first candidate that is present (whatever it is), its path and bytes; a present
    /// candidate that may not be used (symlink, FIFO, too large, ...) is `manifest_invalid`.
    public static func read(projectPath: String) throws(ManifestError) -> (path: String, bytes: [UInt8]) {
        for candidate in candidates {
            let path = projectPath + "/" + candidate
            do {
                return (path, try ProjectFile.read(root: projectPath, relative: candidate, maxBytes: maxFileBytes))
            } catch {
                switch error {
                case .missing: continue
                case .refused(let reason): throw ManifestError(kind: .invalid, message: reason)
                }
            }
        }
        throw .notFound(projectPath)
    }

    /// SHA-256 (hex) of the file `reload` would read now, or nil when there is none or it
    /// may not be used: what `status` and start-up compare with the pin. `known` is the
    /// previous answer with the file's identity then: while the identity is unchanged the
    /// file is not read and hashed again (a `status` costs a few `fstat`s per project, not up
    /// to 1 MiB of a tenant's file each).
    public static func currentDigest(projectPath: String, known: KnownDigest?) -> KnownDigest {
        let identity = currentIdentity(projectPath: projectPath)
        if let identity, let known, known.identity == identity { return known }
        guard let found = try? read(projectPath: projectPath) else { return KnownDigest(identity: nil, digest: nil) }
        return KnownDigest(identity: identity, digest: SHA256.hexDigest(found.bytes))
    }

    /// The identity of the first present candidate, nil when there is none or it may not be used.
    static func currentIdentity(projectPath: String) -> ProjectFile.Identity? {
        for candidate in candidates {
            do {
                return try ProjectFile.identity(root: projectPath, relative: candidate, maxBytes: maxFileBytes)
            } catch {
                if case .missing = error { continue }
                return nil
            }
        }
        return nil
    }

    public struct KnownDigest: Equatable, Sendable {
        /// nil: not worth remembering (no usable file), so the next check reads again.
        public let identity: ProjectFile.Identity?
        public let digest: String?
    }

    /// - Parameter ceiling: the broker-wide cache defaults; a manifest may only lower them.
    public static func load(projectPath: String, project: String, ceiling: ProjectCache.Limits) throws(ManifestError) -> PinnedManifest {
        let (path, bytes) = try read(projectPath: projectPath)
        let manifest = try parse(bytes, path: path, project: project, ceiling: ceiling)
        return PinnedManifest(manifest: manifest, sha256: SHA256.hexDigest(bytes))
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

/// A validated manifest as an admin approved it (`register`/`reload`), with the SHA-256 of
/// the file bytes it came from. Restored from the registry at start, never from the file.
public struct PinnedManifest: Equatable, Sendable {
    public let manifest: Manifest
    /// Lowercase hex.
    public let sha256: String

    public init(manifest: Manifest, sha256: String) {
        self.manifest = manifest
        self.sha256 = sha256
    }
}
