import BrokerCore
import CSeccomp

/// `push [FILE|-] [--format json|env]`: reads a secret set and sends it as one push-creds
/// line. Never prints a value; every buffer that held values is zeroed before returning.
enum PushCommand {
    static func run(source: String, format: String?, context exchange: (JSONWriter) throws(CommandFailure) -> Reply,
                    json: Bool) throws(CommandFailure) {
        let what = source == "-" ? "standard input" : source
        var bytes = try read(source)
        defer { SecureZero.zero(&bytes) }
        var set = try parse(bytes, format: format, what: what)
        defer { set.zeroize() }
        let reply = try exchange(set.request)
        if !json {
            Console.out("pushed \(reply.int("secret_count") ?? 0) secret(s), loaded at \(reply.string("loaded_at") ?? "?")")
        }
    }

    static func read(_ source: String) throws(CommandFailure) -> [UInt8] {
        do {
            if source == "-" { return try FileSystem.readAll(fd: STDIN_FILENO, maxBytes: WireLimits.adminLineBytes, subject: "standard input") }
            return try FileSystem.readFile(source, maxBytes: WireLimits.adminLineBytes)
        } catch {
            throw CommandFailure(message: "cannot read \(source == "-" ? "standard input" : source): \(error.errnoName)", exitCode: 66)
        }
    }

    /// `format` nil = detect (JSON if it starts with `{`).
    static func parse(_ bytes: [UInt8], format: String?, what: String) throws(CommandFailure) -> SecretSetFile {
        let chosen: SecretSetFile.Format
        if let format {
            guard let parsed = SecretSetFile.Format(rawValue: format) else {
                throw CommandFailure(message: "--format must be json or env", exitCode: 64)
            }
            chosen = parsed
        } else {
            chosen = SecretSetFile.Format.detect(bytes)
        }
        do {
            return try SecretSetFile(bytes, format: chosen)
        } catch {
            throw CommandFailure(message: "\(what): \(error)", exitCode: 65)
        }
    }
}
