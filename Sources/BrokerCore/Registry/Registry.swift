import Glibc

/// One registered project as persisted: never secrets, only where the project lives and who
/// may connect.
public struct ProjectRecord: Equatable, Sendable {
    public let name: String
    public let projectPath: String
    public let allowedUIDs: [UInt32]?
    public let socketGID: UInt32?

    public init(name: String, projectPath: String, allowedUIDs: [UInt32]?, socketGID: UInt32?) {
        self.name = name
        self.projectPath = projectPath
        self.allowedUIDs = allowedUIDs
        self.socketGID = socketGID
    }
}

/// The registry file `<state dir>/registry.json`:
/// `{"version":1,"projects":[{"name":..,"project_path":..,"allowed_uids":[..],"socket_gid":N}]}`.
/// Saved atomically (temp file, fsync, rename, fsync of the directory) so a crash leaves
/// either the old or the new file, never a torn one.
public struct RegistryFile {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The saved records; empty when the file does not exist yet.
    public func load() throws -> [ProjectRecord] {
        guard FileSystem.exists(path) else { return [] }
        let document = try JSONDocument(parsing: try FileSystem.readFile(path, maxBytes: 16 << 20))
        guard case .number(let version)? = document["version"], document.int64(version) == 1,
              case .array(let items)? = document["projects"]
        else { throw Corrupt(message: "\(path): not a version 1 registry") }
        return try items.map { item in
            guard case .object(let members) = item,
                  case .string(let name)? = document.member("name", of: members),
                  case .string(let projectPath)? = document.member("project_path", of: members)
            else { throw Corrupt(message: "\(path): a project entry lacks name or project_path") }
            var allowed: [UInt32]? = nil
            if case .array(let uids)? = document.member("allowed_uids", of: members) {
                allowed = try uids.map { uid in
                    guard case .number(let n) = uid, let value = document.int64(n).flatMap(UInt32.init(exactly:)) else {
                        throw Corrupt(message: "\(path): allowed_uids holds a non-uid")
                    }
                    return value
                }
            }
            var gid: UInt32? = nil
            if case .number(let n)? = document.member("socket_gid", of: members) {
                gid = document.int64(n).flatMap(UInt32.init(exactly:))
            }
            return ProjectRecord(name: document.string(name), projectPath: document.string(projectPath),
                                 allowedUIDs: allowed, socketGID: gid)
        }
    }

    public func save(_ records: [ProjectRecord]) throws(SystemError) {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("version", 1)
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
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        writer.bytes.append(0x0A)
        try FileSystem.writeAtomically(path, writer.bytes, mode: 0o600)
    }
}
