/// The rules of SPEC §4 over a parsed TOML document, for the current form
/// (`project = "..."` + `[secrets.<name>]`) and the legacy one (`[project]` + `[allowlist]`).
struct ManifestValidator {
    let path: String
    let project: String
    let ceiling: ProjectCache.Limits

    private func fail(_ position: TOMLPosition?, _ message: String) -> ManifestError {
        .invalid(path, position, message)
    }

    mutating func validate(_ root: TOMLTable) throws(ManifestError) -> Manifest {
        guard let version = root.entry("schema_version") else {
            throw fail(nil, "missing schema_version (expected schema_version = 1)")
        }
        guard case .integer(1) = version.value else {
            throw fail(version.position, "unsupported schema_version (this broker reads schema_version = 1)")
        }
        switch root.entry("project")?.value {
        case .table?: return try validateLegacy(root)
        default: return try validateCurrent(root)
        }
    }

    // MARK: current form

    private func validateCurrent(_ root: TOMLTable) throws(ManifestError) -> Manifest {
        try checkKeys(root, allowed: ["schema_version", "project", "secrets", "cache"], in: "the manifest")
        guard let projectEntry = root.entry("project") else { throw fail(nil, "missing project = \"\(project)\"") }
        let name = try string(projectEntry)
        try checkProjectName(name, at: projectEntry.position)

        var bindings: [SecretBinding] = []
        if let secretsEntry = root.entry("secrets") {
            guard case .table(let secrets) = secretsEntry.value else {
                throw fail(secretsEntry.position, "secrets must be a table of [secrets.<name>] tables")
            }
            for entry in secrets.entries {
                bindings.append(try binding(entry))
            }
        }
        try checkUnique(bindings)
        let cache = try cacheLimits(root.entry("cache"), ttlKey: "default_ttl_seconds", entriesKey: "default_max_entries")
        return Manifest(path: path, project: name, description: nil, bindings: bindings, cache: cache)
    }

    private func binding(_ entry: TOMLEntry) throws(ManifestError) -> SecretBinding {
        let name = entry.key
        guard Names.isSecretName(name) else {
            throw fail(entry.position, "secret name must match ^[A-Za-z0-9_]{1,128}$")
        }
        guard case .table(let table) = entry.value else {
            throw fail(entry.position, "secrets.\(name) must be a table")
        }
        try checkKeys(table, allowed: ["fetch_as", "env_var", "file_path", "file_mode", "template"], in: "secrets.\(name)")
        let fetchAs = try table.entry("fetch_as").map { entry throws(ManifestError) in (try string(entry), entry.position) }
        switch fetchAs?.0 ?? "env" {
        case "env":
            for key in ["file_path", "file_mode", "template"] {
                if let stray = table.entry(key) {
                    throw fail(stray.position, "secrets.\(name): \(key) is only for fetch_as = \"file\"")
                }
            }
            if let variableEntry = table.entry("env_var") {
                let variable = try string(variableEntry)
                guard Names.isEnvVarName(variable) else {
                    throw fail(variableEntry.position, "secrets.\(name): env_var must match ^[A-Za-z_][A-Za-z0-9_]*$")
                }
                return SecretBinding(name: name, delivery: .env(variable: variable))
            }
            return SecretBinding(name: name, delivery: .env(variable: try defaultEnvVar(name, at: entry.position)))
        case "file":
            if let stray = table.entry("env_var") {
                throw fail(stray.position, "secrets.\(name): env_var is only for fetch_as = \"env\"")
            }
            let pathEntry = try required(table, "file_path", of: name, at: entry.position)
            let filePath = try string(pathEntry)
            guard Names.isBindingFilePath(filePath) else {
                throw fail(pathEntry.position, "secrets.\(name): file_path must be absolute or start with ~/")
            }
            let modeEntry = try required(table, "file_mode", of: name, at: entry.position)
            guard let mode = ConfigKeys.parseMode(try string(modeEntry)), mode & 0o022 == 0 else {
                throw fail(modeEntry.position,
                           "secrets.\(name): file_mode must be four octal digits without group/other write, like \"0600\"")
            }
            let templateEntry = try required(table, "template", of: name, at: entry.position)
            let template = try string(templateEntry)
            guard !template.isEmpty else { throw fail(templateEntry.position, "secrets.\(name): template is empty") }
            return SecretBinding(name: name, delivery: .file(path: filePath, mode: mode, template: template))
        default:
            throw fail(fetchAs?.1, "secrets.\(name): fetch_as must be \"env\" or \"file\"")
        }
    }

    // MARK: legacy form

    private func validateLegacy(_ root: TOMLTable) throws(ManifestError) -> Manifest {
        try checkKeys(root, allowed: ["schema_version", "project", "allowlist", "cache"], in: "the manifest")
        guard let projectEntry = root.entry("project"), case .table(let projectTable) = projectEntry.value else {
            throw fail(nil, "missing [project]")
        }
        try checkKeys(projectTable, allowed: ["name", "description"], in: "[project]")
        let nameEntry = try required(projectTable, "name", of: nil, at: projectEntry.position)
        let name = try string(nameEntry)
        try checkProjectName(name, at: nameEntry.position)
        var description: String? = nil
        if let descriptionEntry = projectTable.entry("description") {
            let text = try string(descriptionEntry)
            guard text.unicodeScalars.count <= 256 else {
                throw fail(descriptionEntry.position, "project description is longer than 256 characters")
            }
            description = text
        }

        var bindings: [SecretBinding] = []
        if let allowlistEntry = root.entry("allowlist") {
            guard case .table(let allowlist) = allowlistEntry.value else {
                throw fail(allowlistEntry.position, "allowlist must be a table with secrets = [...]")
            }
            try checkKeys(allowlist, allowed: ["secrets"], in: "[allowlist]")
            if let secretsEntry = allowlist.entry("secrets") {
                guard case .array(let items) = secretsEntry.value else {
                    throw fail(secretsEntry.position, "allowlist.secrets must be an array of names")
                }
                var seen = Set<String>()
                for item in items {
                    guard case .string(let secret) = item, Names.isSecretName(secret) else {
                        throw fail(secretsEntry.position, "allowlist.secrets: every name must match ^[A-Za-z0-9_]{1,128}$")
                    }
                    guard seen.insert(secret).inserted else {
                        throw fail(secretsEntry.position, "allowlist.secrets lists \(secret) twice")
                    }
                    bindings.append(SecretBinding(name: secret, delivery: .env(variable: try defaultEnvVar(secret, at: secretsEntry.position))))
                }
            }
        }
        try checkUnique(bindings)
        let cache = try cacheLimits(root.entry("cache"), ttlKey: "ttl_seconds", entriesKey: "max_entries")
        return Manifest(path: path, project: name, description: description, bindings: bindings, cache: cache)
    }

    // MARK: shared rules

    private func checkKeys(_ table: TOMLTable, allowed: Set<String>, in context: String) throws(ManifestError) {
        for entry in table.entries where !allowed.contains(entry.key) {
            throw fail(entry.position, "unknown key '\(entry.key)' in \(context)")
        }
    }

    private func string(_ entry: TOMLEntry) throws(ManifestError) -> String {
        guard case .string(let text) = entry.value else {
            throw fail(entry.position, "\(entry.key) must be a string, not \(entry.value.typeName)")
        }
        return text
    }

    private func required(_ table: TOMLTable, _ key: String, of secret: String?, at position: TOMLPosition) throws(ManifestError) -> TOMLEntry {
        guard let entry = table.entry(key) else {
            throw fail(position, secret.map { "secrets.\($0): missing \(key) (required for fetch_as = \"file\")" } ?? "missing \(key)")
        }
        return entry
    }

    private func checkProjectName(_ name: String, at position: TOMLPosition) throws(ManifestError) {
        guard Names.isProjectName(name) else {
            throw fail(position, "project name must match ^[a-z0-9][a-z0-9_-]{0,63}$")
        }
        guard name == project else {
            throw fail(position, "project is \"\(name)\" but the project directory is named \"\(project)\"")
        }
    }

    private func defaultEnvVar(_ name: String, at position: TOMLPosition) throws(ManifestError) -> String {
        let variable = name.uppercased()
        guard Names.isEnvVarName(variable) else {
            throw fail(position, "secret \(name): the default env var \(variable) is not a valid name; set env_var")
        }
        return variable
    }

    private func checkUnique(_ bindings: [SecretBinding]) throws(ManifestError) {
        var variables: [String: String] = [:]
        var paths: [String: String] = [:]
        for binding in bindings {
            switch binding.delivery {
            case .env(let variable):
                if let other = variables.updateValue(binding.name, forKey: variable) {
                    throw fail(nil, "secrets \(other) and \(binding.name) both set env var \(variable)")
                }
            case .file(let path, _, _):
                if let other = paths.updateValue(binding.name, forKey: path) {
                    throw fail(nil, "secrets \(other) and \(binding.name) both write \(path)")
                }
            }
        }
    }

    private func cacheLimits(_ entry: TOMLEntry?, ttlKey: String, entriesKey: String) throws(ManifestError) -> ProjectCache.Limits {
        guard let entry else { return ceiling }
        guard case .table(let table) = entry.value else { throw fail(entry.position, "cache must be a table") }
        try checkKeys(table, allowed: [ttlKey, entriesKey], in: "[cache]")
        var limits = ceiling
        if let ttl = table.entry(ttlKey) {
            limits.ttlSeconds = try bounded(ttl, 1...86400, ceiling: ceiling.ttlSeconds)
        }
        if let entries = table.entry(entriesKey) {
            limits.maxEntries = try bounded(entries, 1...1024, ceiling: ceiling.maxEntries)
        }
        return limits
    }

    private func bounded(_ entry: TOMLEntry, _ range: ClosedRange<Int>, ceiling: Int) throws(ManifestError) -> Int {
        guard case .integer(let raw) = entry.value, let value = Int(exactly: raw), range.contains(value) else {
            throw fail(entry.position, "cache.\(entry.key) must be an integer in \(range.lowerBound)..\(range.upperBound)")
        }
        guard value <= ceiling else {
            throw fail(entry.position, "cache.\(entry.key) = \(value) is above the broker's \(ceiling); a manifest may only lower it")
        }
        return value
    }
}
