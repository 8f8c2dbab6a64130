import CSeccomp

/// The pushed secret set: names and field names in ordinary memory (they are not secret),
/// every value in one arena generation.
///
/// A push replaces the whole set at once; the previous generation is released (zeroed)
/// when its last reference goes. The serving loop is single-threaded and encodes each
/// reply as soon as it looks a value up, so a `get` sees either the old or the new set.
public final class SecretStore {
    public enum Secret {
        case scalar(Int)
        case bundle([(field: String, index: Int)])
    }

    private let arena: SecretArena
    private var generation: SecretGeneration?
    private var secrets: [String: Secret] = [:]
    private var nextGeneration: UInt64 = 1
    /// When the current set was pushed, for `status.secrets_loaded_at`.
    public private(set) var loadedAt: WallClockTime?
    /// Names whose presence or value the last `replace`/`clear` changed (SPEC §10: a
    /// project's revision moves only when one of its allowed names is in here).
    public private(set) var lastChanged: Set<String> = []

    public init(arena: SecretArena) {
        self.arena = arena
    }

    public var count: Int { secrets.count }
    /// Number of the current generation (0 before the first push and after a clear).
    public var generationNumber: UInt64 { generation?.number ?? 0 }

    public func secret(named name: String) -> Secret? { secrets[name] }

    /// Validates a push-creds `secrets` object and, only if all of it is valid, replaces
    /// the store with it. Returns the new secret count.
    public func replace(with members: [JSONMember], in buffer: JSONBuffer, now: WallClockTime) throws(WireError) -> Int {
        var byteCount = 0
        for (position, member) in members.enumerated() {
            guard Names.isSecretName(buffer.slice(member.key)) else {
                throw WireError(.invalidPayload, "secret #\(position + 1): name must match ^[A-Za-z0-9_]{1,128}$")
            }
            // Messages name positions, never request bytes: a sidecar could put a value in a key.
            let name = "secret #\(position + 1)"
            switch member.value {
            case .string(let value):
                byteCount += value.count
            case .object(let fields) where !fields.isEmpty:
                for (fieldPosition, field) in fields.enumerated() {
                    guard Names.isSecretName(buffer.slice(field.key)) else {
                        throw WireError(.invalidPayload,
                                        "\(name) field #\(fieldPosition + 1): name must match ^[A-Za-z0-9_]{1,128}$")
                    }
                    guard case .string(let value) = field.value else {
                        throw WireError(.invalidPayload, "\(name) field #\(fieldPosition + 1): value must be a string")
                    }
                    byteCount += value.count
                }
            case .object:
                throw WireError(.invalidPayload, "\(name): a bundle must have at least one field")
            default:
                throw WireError(.invalidPayload, "\(name): value must be a string or an object of strings")
            }
        }

        let next: SecretGeneration
        do {
            next = try SecretGeneration(number: nextGeneration, byteCount: byteCount, in: arena)
        } catch {
            throw WireError(.internalError, "cannot store the secrets: \(error)")
        }
        var table: [String: Secret] = [:]
        table.reserveCapacity(members.count)
        for member in members {
            switch member.value {
            case .string(let value):
                table[buffer.string(member.key)] = .scalar(next.append(UnsafeRawBufferPointer(buffer.slice(value))))
            case .object(let fields):
                table[buffer.string(member.key)] = .bundle(fields.map { field in
                    guard case .string(let value) = field.value else { preconditionFailure("validated above") }
                    return (buffer.string(field.key), next.append(UnsafeRawBufferPointer(buffer.slice(value))))
                })
            default:
                preconditionFailure("validated above")
            }
        }
        nextGeneration += 1
        lastChanged = SecretStore.changes(from: secrets, in: generation, to: table, in: next)
        generation = next  // the previous generation is released (zeroed) here
        secrets = table
        loadedAt = now
        return table.count
    }

    /// Empties the store; returns how many secrets it held.
    public func clear() -> Int {
        let previous = secrets.count
        lastChanged = Set(secrets.keys)
        generation = nil
        secrets = [:]
        loadedAt = nil
        return previous
    }

    /// The names present in only one of the two sets, or whose values differ (a bundle's
    /// fields compared by name, so a re-push in another key order is no change).
    static func changes(from old: [String: Secret], in oldGeneration: SecretGeneration?,
                        to new: [String: Secret], in newGeneration: SecretGeneration) -> Set<String> {
        var changed: Set<String> = []
        for name in old.keys where new[name] == nil { changed.insert(name) }
        for (name, secret) in new {
            guard let previous = old[name], let oldGeneration else {
                changed.insert(name)
                continue
            }
            func same(_ a: Int, _ b: Int) -> Bool {
                oldGeneration.withValue(a) { left in newGeneration.withValue(b) { right in
                    left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
                } }
            }
            switch (previous, secret) {
            case (.scalar(let a), .scalar(let b)):
                if !same(a, b) { changed.insert(name) }
            case (.bundle(let a), .bundle(let b)):
                let unchanged = a.count == b.count && a.allSatisfy { field in
                    b.contains { $0.field == field.field && same(field.index, $0.index) }
                }
                if !unchanged { changed.insert(name) }
            default:
                changed.insert(name)
            }
        }
        return changed
    }

    /// Appends what `LoadCredential=` delivers for `secret` to `output`, straight from arena
    /// bytes: a scalar's exact bytes (no `field`), one field's exact bytes, or the whole
    /// bundle as a compact JSON object (no `field`). False, with nothing appended, when the
    /// field does not exist or a scalar is asked for a field.
    public func appendCredential(for secret: Secret, field: String?, to output: SecureBuffer) -> Bool {
        guard let generation else { return false }
        switch (secret, field) {
        case (.scalar(let index), nil):
            generation.withValue(index) { output.append($0) }
        case (.scalar, .some):
            return false
        case (.bundle(let fields), .some(let wanted)):
            guard let index = fields.first(where: { $0.field == wanted })?.index else { return false }
            generation.withValue(index) { output.append($0) }
        case (.bundle(let fields), nil):
            let size = fields.reduce(0) { $0 + 8 + $1.field.utf8.count + 6 * generation.withValue($1.index) { $0.count } }
            var writer = JSONWriter(reservingCapacity: 2 + size)
            writer.beginObject()
            for (field, index) in fields {
                writer.key(field)
                generation.withValue(index) { writer.string(bytes: $0.assumingMemoryBound(to: UInt8.self)) }
            }
            writer.endObject()
            output.append(writer.bytes)
            writer.zeroize()
        }
        return true
    }

    /// Appends the `get` success reply for `secret` to `output`, straight from arena bytes.
    /// The temporary encoding buffer is sized up front (no reallocation leaves a copy behind)
    /// and zeroed after the copy.
    public func appendReply(for secret: Secret, ttlSeconds: Int, to output: SecureBuffer) {
        guard let generation else { return }
        var writer: JSONWriter
        switch secret {
        case .scalar(let index):
            let size = generation.withValue(index) { $0.count }
            writer = JSONWriter(reservingCapacity: 64 + 6 * size)
            writer.beginObject()
            writer.field("ok", true)
            writer.key("value")
            generation.withValue(index) { writer.string(bytes: $0.assumingMemoryBound(to: UInt8.self)) }
        case .bundle(let fields):
            let size = fields.reduce(0) { $0 + 8 + $1.field.utf8.count + 6 * generation.withValue($1.index) { $0.count } }
            writer = JSONWriter(reservingCapacity: 64 + size)
            writer.beginObject()
            writer.field("ok", true)
            writer.key("fields")
            writer.beginObject()
            for (field, index) in fields {
                writer.key(field)
                generation.withValue(index) { writer.string(bytes: $0.assumingMemoryBound(to: UInt8.self)) }
            }
            writer.endObject()
        }
        writer.field("ttl_seconds", ttlSeconds)
        writer.endObject()
        writer.bytes.append(0x0A)
        output.append(writer.bytes)
        writer.zeroize()
    }
}
