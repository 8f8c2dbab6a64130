import CSeccomp

/// One registered project as persisted: never secrets, only where the project lives, who
/// may connect, and the manifest an admin approved (SPEC §3.2).
public struct ProjectRecord: Equatable, Sendable {
    public let name: String
    public let projectPath: String
    public let allowedUIDs: [UInt32]?
    public let socketGID: UInt32?
    /// nil only for a record read from a registry written before pinning (0.1.0), until the
    /// broker pins it from the file at start.
    public let pin: PinnedManifest?

    public init(name: String, projectPath: String, allowedUIDs: [UInt32]?, socketGID: UInt32?, pin: PinnedManifest?) {
        self.name = name
        self.projectPath = projectPath
        self.allowedUIDs = allowedUIDs
        self.socketGID = socketGID
        self.pin = pin
    }

    /// The same project with another approved manifest.
    public func pinning(_ pin: PinnedManifest) -> ProjectRecord {
        ProjectRecord(name: name, projectPath: projectPath, allowedUIDs: allowedUIDs, socketGID: socketGID, pin: pin)
    }
}

/// The registry file `<state dir>/registry.json`:
/// `{"version":2,"projects":[{"name":..,"project_path":..,"allowed_uids":[..],"socket_gid":N,
/// "manifest":{...}}]}` (the `manifest` form is in `Registry+Pin.swift`). Version 1 (0.1.0)
/// has no `manifest` and is still read. Saved atomically (temp file, fsync, rename, fsync of
/// the directory) so a crash leaves either the old or the new file, never a torn one.
public struct RegistryFile {
    public static let version = 2
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The saved records; empty when the file does not exist yet.
    public func load() throws(Corrupt) -> [ProjectRecord] {
        guard FileSystem.exists(path) else { return [] }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, maxBytes: 16 << 20)
        } catch {
            throw Corrupt(message: "\(path): \(error)")
        }
        do {
            return try RegistryFile.decode(bytes)
        } catch {
            throw Corrupt(message: "\(path): \(error.message)")
        }
    }

    /// Parses a registry document (version 1 or 2); the error says what is wrong, not where.
    public static func decode(_ bytes: [UInt8]) throws(Corrupt) -> [ProjectRecord] {
        let document: JSONDocument
        do {
            document = try JSONDocument(parsing: bytes)
        } catch {
            throw Corrupt(message: "not JSON: \(error)")
        }
        guard case .number(let versionNumber)? = document["version"], let version = document.int64(versionNumber),
              version == 1 || version == Int64(RegistryFile.version),
              case .array(let items)? = document["projects"]
        else { throw Corrupt(message: "not a version 1 or 2 registry") }
        var records: [ProjectRecord] = []
        for item in items {
            guard case .object(let members) = item,
                  case .string(let name)? = document.member("name", of: members),
                  case .string(let projectPath)? = document.member("project_path", of: members)
            else { throw Corrupt(message: "a project entry lacks name or project_path") }
            let projectName = document.string(name)
            guard Names.isProjectName(projectName) else { throw Corrupt(message: "a project name is not valid") }
            var allowed: [UInt32]? = nil
            if case .array(let uids)? = document.member("allowed_uids", of: members) {
                var list: [UInt32] = []
                for uid in uids {
                    guard case .number(let n) = uid, let value = document.int64(n).flatMap({ UInt32(exactly: $0) }) else {
                        throw Corrupt(message: "allowed_uids of \(projectName) holds a non-uid")
                    }
                    list.append(value)
                }
                allowed = list
            }
            var gid: UInt32? = nil
            if case .number(let n)? = document.member("socket_gid", of: members) {
                gid = document.int64(n).flatMap { UInt32(exactly: $0) }
            }
            var pin: PinnedManifest? = nil
            if let manifest = document.member("manifest", of: members) {
                pin = try PinCodec.decode(manifest, in: document, project: projectName)
            }
            records.append(ProjectRecord(name: projectName, projectPath: document.string(projectPath),
                                         allowedUIDs: allowed, socketGID: gid, pin: pin))
        }
        return records
    }

    public static func encode(_ records: [ProjectRecord]) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("version", RegistryFile.version)
        writer.key("projects")
        writer.beginArray()
        for record in records.sorted(by: { $0.name < $1.name }) {
            writer.beginObject()
            writer.field("name", record.name)
            writer.field("project_path", record.projectPath)
            if let uids = record.allowedUIDs {
                writer.key("allowed_uids")
                writer.beginArray()
                uids.forEach { writer.int(Int($0)) }
                writer.endArray()
            }
            if let gid = record.socketGID { writer.field("socket_gid", Int(gid)) }
            if let pin = record.pin {
                writer.key("manifest")
                PinCodec.encode(pin, to: &writer)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        writer.bytes.append(0x0A)
        return writer.bytes
    }

    public func save(_ records: [ProjectRecord]) throws(SystemError) {
        try FileSystem.writeAtomically(path, RegistryFile.encode(records), mode: 0o600)
    }
}
