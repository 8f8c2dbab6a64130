/// The `manifest` member of a registry entry: the validated manifest an admin approved and
/// the SHA-256 of its file, `{"path":..,"sha256":..,"description":..,"cache":{"ttl_seconds":N,
/// "max_entries":N},"secrets":[<binding as in info>...]}`.
///
/// Read back with the same rules the manifest validator enforces on names, env vars, modes
/// and paths: the registry lives in the broker's own state dir, but a file that does not
/// hold what `register` wrote must not become an allowlist.
enum PinCodec {
    static func encode(_ pin: PinnedManifest, to writer: inout JSONWriter) {
        let manifest = pin.manifest
        writer.beginObject()
        writer.field("path", manifest.path)
        writer.field("sha256", pin.sha256)
        if let description = manifest.description { writer.field("description", description) }
        writer.key("cache")
        writer.beginObject()
        writer.field("ttl_seconds", manifest.cache.ttlSeconds)
        writer.field("max_entries", manifest.cache.maxEntries)
        writer.endObject()
        writer.key("secrets")
        writer.beginArray()
        manifest.bindings.forEach { $0.write(to: &writer) }
        writer.endArray()
        writer.endObject()
    }

    static func decode(_ value: JSONValue, in document: JSONDocument, project: String) throws(RegistryFile.Corrupt) -> PinnedManifest {
        let reader = Reader(document: document, project: project)
        guard case .object(let members) = value else { throw reader.corrupt("manifest is not an object") }
        let path = try reader.string("path", members)
        let sha256 = try reader.string("sha256", members)
        guard SHA256.Digest(hex: sha256) != nil else {
            throw reader.corrupt("sha256 is not 64 lowercase hex digits")
        }
        let description = try reader.optionalString("description", members)
        guard case .object(let cacheMembers)? = document.member("cache", of: members) else { throw reader.corrupt("cache is missing") }
        let cache = ProjectCache.Limits(ttlSeconds: try reader.int("ttl_seconds", cacheMembers, in: 1...86_400),
                                        maxEntries: try reader.int("max_entries", cacheMembers, in: 1...1024))
        guard case .array(let items)? = document.member("secrets", of: members) else { throw reader.corrupt("secrets is missing") }
        var bindings: [SecretBinding] = []
        var seen = Set<String>()
        for item in items {
            guard case .object(let binding) = item else { throw reader.corrupt("a secret is not an object") }
            let decoded = try reader.binding(binding)
            guard seen.insert(decoded.name).inserted else { throw reader.corrupt("secret \(decoded.name) is listed twice") }
            bindings.append(decoded)
        }
        return PinnedManifest(manifest: Manifest(path: path, project: project, description: description,
                                                 bindings: bindings, cache: cache),
                              sha256: sha256)
    }

    private struct Reader {
        let document: JSONDocument
        let project: String

        func corrupt(_ what: String) -> RegistryFile.Corrupt {
            RegistryFile.Corrupt(message: "pinned manifest of \(project): \(what)")
        }

        func string(_ key: String, _ members: [JSONMember]) throws(RegistryFile.Corrupt) -> String {
            guard let text = try optionalString(key, members) else { throw corrupt("\(key) is missing") }
            return text
        }

        func optionalString(_ key: String, _ members: [JSONMember]) throws(RegistryFile.Corrupt) -> String? {
            switch document.member(key, of: members) {
            case nil: return nil
            case .string(let span)?: return document.string(span)
            default: throw corrupt("\(key) is not a string")
            }
        }

        func int(_ key: String, _ members: [JSONMember], in range: ClosedRange<Int>) throws(RegistryFile.Corrupt) -> Int {
            guard case .number(let number)? = document.member(key, of: members), let value = document.int64(number),
                  value >= Int64(range.lowerBound), value <= Int64(range.upperBound)
            else { throw corrupt("\(key) is not an integer in \(range.lowerBound)..\(range.upperBound)") }
            return Int(value)
        }

        func binding(_ members: [JSONMember]) throws(RegistryFile.Corrupt) -> SecretBinding {
            let name = try string("name", members)
            guard Names.isSecretName(name) else { throw corrupt("a secret name is not valid") }
            switch try string("fetch_as", members) {
            case "env":
                let variable = try string("env_var", members)
                guard Names.isEnvVarName(variable) else { throw corrupt("env_var of \(name) is not valid") }
                return SecretBinding(name: name, delivery: .env(variable: variable))
            case "file":
                let path = try string("file_path", members)
                guard Names.isBindingFilePath(path) else { throw corrupt("file_path of \(name) is not valid") }
                guard let mode = ConfigKeys.parseMode(try string("file_mode", members)), mode & 0o022 == 0 else {
                    throw corrupt("file_mode of \(name) is not valid")
                }
                let template = try string("template", members)
                guard !template.isEmpty else { throw corrupt("template of \(name) is empty") }
                return SecretBinding(name: name, delivery: .file(path: path, mode: mode, template: template))
            default:
                throw corrupt("fetch_as of \(name) is not env or file")
            }
        }
    }
}
