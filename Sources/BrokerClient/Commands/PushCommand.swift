import BrokerCore

/// `push [FILE|-] [--format json]`: reads a secret set and sends it as one push-creds line.
/// Never prints a value; the buffers that held values are zeroed before returning.
enum PushCommand {
    static func run(source: String, format: String, context exchange: (JSONWriter) throws(CommandFailure) -> Reply,
                    json: Bool) throws(CommandFailure) {
        guard format == "json" else {
            throw CommandFailure(message: "--format \(format) is not supported (use json)", exitCode: 64)
        }
        let path = source == "-" ? "/dev/stdin" : source
        var bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, maxBytes: WireLimits.adminLineBytes)
        } catch {
            throw CommandFailure(message: "cannot read \(source == "-" ? "standard input" : source): \(error.errnoName)", exitCode: 66)
        }
        defer { SecureZero.zero(&bytes) }
        var document: JSONDocument
        do {
            document = try JSONDocument(parsing: bytes)
        } catch {
            throw CommandFailure(message: "\(source == "-" ? "standard input" : source) is not valid JSON: \(error)", exitCode: 65)
        }
        defer { document.zeroize() }
        guard case .object = document.root else {
            throw CommandFailure(message: "the secret set must be a JSON object of name -> value", exitCode: 65)
        }
        // Sized for the worst case up front: growing would leave copies of values behind.
        var writer = JSONWriter(reservingCapacity: 64 + 6 * bytes.count)
        defer { writer.zeroize() }
        writer.beginObject()
        writer.field("op", "push-creds")
        writer.key("secrets")
        document.withBuffer { writer.value(document.root, from: $0) }
        writer.endObject()
        let reply = try exchange(writer)
        if !json {
            Console.out("pushed \(reply.int("secret_count") ?? 0) secret(s), loaded at \(reply.string("loaded_at") ?? "?")")
        }
    }
}
