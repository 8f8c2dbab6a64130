extension AuditEvent {
    /// Written instead of a `fetch` secret name that is not a well-formed name.
    static let invalidSecretNamePlaceholder = "<invalid>"

    /// Free-text fields (`error`, `reason`, `version`, ...) are cut to this many UTF-8 bytes:
    /// a manifest is written from inside a devcontainer, and its parse error must not be a
    /// way to bloat the log.
    static let maxTextBytes = 1024

    /// The event as one JSON line including the trailing `\n`: `ts` first, then `event`, then
    /// the fields of SPEC §6 in table order. The writer escapes every control character, so
    /// the only newline in the result is the terminator.
    func encodedLine(at time: WallClockTime) -> [UInt8] {
        var timestamp: [UInt8] = []
        timestamp.reserveCapacity(27)
        time.appendRFC3339(to: &timestamp, microseconds: true)

        var writer = JSONWriter(reservingCapacity: 256)
        writer.beginObject()
        writer.key("ts")
        timestamp.withUnsafeBufferPointer { writer.string(bytes: $0) }
        writer.field("event", name)
        writeFields(to: &writer)
        writer.endObject()
        writer.bytes.append(UInt8(ascii: "\n"))
        return writer.bytes
    }

    private func writeFields(to writer: inout JSONWriter) {
        switch self {
        case let .fetch(requester, secretName, decision, outcome, reason, peer, latencyMicros):
            switch requester {
            case .project(let project):
                writer.field("project", Self.clipped(project))
                writer.field("secret_name", Self.loggableSecretName(secretName))
            case .unit(let unit):
                writer.field("unit", Self.clipped(unit))
                writer.field("secret_name", Self.loggableCredentialID(secretName))
            }
            writer.field("decision", decision.rawValue)
            writer.field("outcome", outcome.rawValue)
            if let reason { writer.field("reason", reason.rawValue) }
            Self.writePeer(peer, to: &writer)
            writer.field("latency_us", latencyMicros)
        case let .secretsPushed(secretCount, peerUID):
            writer.field("secret_count", secretCount)
            writer.key("peer_uid"); writer.int(Int64(peerUID))
        case let .secretsCleared(previousCount, peerUID):
            writer.field("previous_count", previousCount)
            writer.key("peer_uid"); writer.int(Int64(peerUID))
        case let .projectRegistered(project, allowlistSize),
             let .projectUnregistered(project, allowlistSize):
            writer.field("project", Self.clipped(project))
            writer.field("allowlist_size", allowlistSize)
        case let .projectReloaded(project, allowlistSize, added, removed):
            writer.field("project", Self.clipped(project))
            writer.field("allowlist_size", allowlistSize)
            writer.key("added"); writer.beginArray(); added.forEach { writer.string($0) }; writer.endArray()
            writer.key("removed"); writer.beginArray(); removed.forEach { writer.string($0) }; writer.endArray()
        case let .manifestChanged(project, pinnedSHA256, fileSHA256):
            writer.field("project", Self.clipped(project))
            writer.field("pinned_sha256", pinnedSHA256)
            writer.key("file_sha256")
            if let fileSHA256 { writer.string(fileSHA256) } else { writer.null() }
        case let .manifestPinned(project, pinnedSHA256, fileSHA256):
            writer.field("project", Self.clipped(project))
            writer.field("pinned_sha256", pinnedSHA256)
            writer.field("file_sha256", fileSHA256)
        case let .manifestInvalid(project, error):
            writer.field("project", Self.clipped(project))
            writer.field("error", Self.clipped(error))
        case let .peerUnexpected(scope, peer):
            Self.writeScope(scope, to: &writer)
            Self.writePeer(peer, to: &writer)
        case let .requestInvalid(socket, code):
            writer.field("socket", Self.clipped(socket))
            writer.field("code", Self.clipped(code))
        case let .brokerStarted(version, pid, hardening):
            writer.field("version", Self.clipped(version))
            writer.key("pid"); writer.int(Int64(pid))
            writer.key("hardening"); hardening.write(to: &writer)
        case let .brokerStopping(version, pid, reason):
            writer.field("version", Self.clipped(version))
            writer.key("pid"); writer.int(Int64(pid))
            writer.field("reason", Self.clipped(reason))
        case let .auditDegraded(droppedEvents), let .auditRecovered(droppedEvents):
            writer.field("dropped_events", droppedEvents)
        case let .auditSuppressed(scope, suppressedEvent, count):
            Self.writeScope(scope, to: &writer)
            writer.field("suppressed_event", suppressedEvent)
            writer.field("count", count)
        }
    }

    private static func writeScope(_ scope: Scope, to writer: inout JSONWriter) {
        switch scope {
        case .project(let name): writer.field("project", clipped(name))
        case .socket(let name): writer.field("socket", clipped(name))
        }
    }

    private static func writePeer(_ peer: PeerCredentials, to writer: inout JSONWriter) {
        writer.key("peer_pid"); writer.int(Int64(peer.pid))
        writer.key("peer_uid"); writer.int(Int64(peer.uid))
        writer.key("peer_gid"); writer.int(Int64(peer.gid))
    }

    /// The name itself if it matches `^[A-Za-z0-9_]{1,128}$`, else the placeholder: the
    /// requested name is client bytes and may be a pasted secret.
    static func loggableSecretName(_ name: String) -> String {
        isWellFormedSecretName(name) ? name : invalidSecretNamePlaceholder
    }

    /// A credential id as requested (`name` or `name.field`, each part a well-formed name),
    /// else the placeholder.
    static func loggableCredentialID(_ id: String) -> String {
        UnitCredentialRequest.secretAndField(of: id) == nil ? invalidSecretNamePlaceholder : id
    }

    static func isWellFormedSecretName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...128).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
    }

    /// `text` cut to at most `maxTextBytes` UTF-8 bytes, on a character boundary.
    static func clipped(_ text: String) -> String {
        guard text.utf8.count > maxTextBytes else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: maxTextBytes)
        // Step back over continuation bytes (10xxxxxx) so no scalar is split.
        while end > text.utf8.startIndex, text.utf8[end] & 0xC0 == 0x80 {
            end = text.utf8.index(before: end)
        }
        return String(decoding: text.utf8[..<end], as: UTF8.self)
    }
}
