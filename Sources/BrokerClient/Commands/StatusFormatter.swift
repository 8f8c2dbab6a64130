import BrokerCore

/// Human-readable forms of `status`, `info` and `get` replies.
enum StatusFormatter {
    static func format(_ reply: Reply) -> String {
        let document = reply.document
        var lines: [String] = []
        lines.append("remo-broker \(reply.string("broker_version") ?? "?") (protocol \(reply.int("protocol_version") ?? 0)), up \(reply.int("uptime_seconds") ?? 0) s")
        let loaded = reply.string("secrets_loaded_at").map { ", loaded at \($0)" } ?? ""
        lines.append("secrets:   \(reply.int("secret_count") ?? 0)\(loaded)")
        var projectLines: [String] = []
        if case .array(let projects)? = document["projects"] {
            for case .object(let members) in projects {
                func text(_ key: String) -> String {
                    switch document.member(key, of: members) {
                    case .string(let span)?: return document.string(span)
                    case .number(let number)?: return document.int64(number).map(String.init) ?? "?"
                    default: return "?"
                    }
                }
                projectLines.append("  \(text("name"))  allowlist \(text("allowlist_size")), cache \(text("cache_entries")), socket \(text("socket_path"))")
                if document.member("manifest_changed", of: members) == .bool(true) {
                    projectLines.append("    MANIFEST CHANGED since an admin approved it; not in force. Review: remo-broker reload \(text("name")) --dry-run")
                }
            }
        }
        lines.append("projects:  \(projectLines.count)")
        lines += projectLines
        if let socket = reply.string("credentials_socket"), case .array(let units)? = document["units"] {
            lines.append("units:     \(units.count) (LoadCredential= from \(socket))")
            for case .object(let members) in units {
                var secrets: [String] = []
                if case .array(let names)? = document.member("secrets", of: members) {
                    for case .string(let span) in names { secrets.append(document.string(span)) }
                }
                let name = document.member("name", of: members).flatMap { if case .string(let s) = $0 { return document.string(s) } else { return nil } } ?? "?"
                lines.append("  \(name)  \(secrets.joined(separator: ", "))")
            }
        }
        lines.append("hardening: " + flags(document, "hardening"))
        if case .object(let audit)? = document["audit"] {
            let path = document.member("path", of: audit).flatMap { if case .string(let s) = $0 { return document.string(s) } else { return nil } } ?? "?"
            let degraded = document.member("degraded", of: audit) == .bool(true)
            let dropped = document.member("dropped_events", of: audit).flatMap { if case .number(let n) = $0 { return document.int64(n).map { Int($0) } } else { return nil } } ?? 0
            lines.append("audit:     \(path) (\(degraded ? "DEGRADED" : "ok"), \(dropped) dropped)")
        }
        return lines.joined(separator: "\n")
    }

    private static func flags(_ document: JSONDocument, _ key: String) -> String {
        guard case .object(let members)? = document[key] else { return "?" }
        return members.map { member in
            let on = member.value == .bool(true)
            return "\(document.string(member.key))=\(on ? "yes" : "no")"
        }.joined(separator: " ")
    }

    /// What a reload granted (or, with --dry-run, would grant): `+ name` / `- name` lines.
    static func formatReload(_ reply: Reply, project: String, dryRun: Bool) -> String {
        func names(_ key: String) -> [String] {
            var list: [String] = []
            if case .array(let items)? = reply.document[key] {
                for case .string(let span) in items { list.append(reply.document.string(span)) }
            }
            return list
        }
        let allowlist = names("allowlist"), added = names("added"), removed = names("removed")
        var lines = [dryRun ? "dry run, nothing applied: reloading \(project) would allow \(allowlist.count) secret(s)"
                            : "reloaded \(project): \(allowlist.count) secret(s) allowed"]
        lines += added.map { "+ \($0)" }
        lines += removed.map { "- \($0)" }
        if added.isEmpty && removed.isEmpty { lines.append("  (no secret added or removed)") }
        if dryRun && !(added.isEmpty && removed.isEmpty) { lines.append("apply with: remo-broker reload \(project)") }
        return lines.joined(separator: "\n")
    }

    static func formatInfo(_ reply: Reply) -> String {
        let document = reply.document
        var lines = ["project \(reply.string("project") ?? "?") (schema \(reply.int("schema_version") ?? 0))"]
        if case .array(let secrets)? = document["secrets"] {
            for case .object(let members) in secrets {
                func text(_ key: String) -> String? {
                    if case .string(let span)? = document.member(key, of: members) { return document.string(span) }
                    return nil
                }
                let name = text("name") ?? "?"
                if text("fetch_as") == "file" {
                    lines.append("  \(name): file \(text("file_path") ?? "?") (mode \(text("file_mode") ?? "?"))")
                } else {
                    lines.append("  \(name): env \(text("env_var") ?? "?")")
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Prints a `get` reply: the value itself for a scalar, the fields as a JSON object for a
/// bundle. This is the one place a client prints a secret, because the user asked for it.
enum GetPrinter {
    static func print(_ reply: Reply) {
        let document = reply.document
        var writer = JSONWriter(reservingCapacity: 64 + 6 * reply.raw.count)
        defer { writer.zeroize() }
        document.withBuffer { buffer in
            switch document["value"] {
            case .string(let span)?:
                writer.bytes.append(contentsOf: buffer.slice(span))
            default:
                if let fields = document["fields"] { writer.value(fields, from: buffer) }
            }
        }
        writer.bytes.append(0x0A)
        writer.bytes.withUnsafeBytes { Console.writeAll(1, $0) }
    }
}
