/// Test secret values start with `SecretMarker.prefix`, so a scan of the audit log, the
/// broker's stderr, the state dir or a client's output can prove that no value leaked, and
/// failure messages can redact values before printing them.
public enum SecretMarker {
    public static let prefix = "REMO_TEST_MARKER_"

    /// `prefix + suffix`: a recognisable secret value.
    public static func value(_ suffix: String) -> String { prefix + suffix }

    public static func occurs(in text: String) -> Bool { text.contains(prefix) }

    public static func occurs(in bytes: [UInt8]) -> Bool {
        let needle = Array(prefix.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// `text` with each marker and the secret-name characters after it (`[A-Za-z0-9_]`)
    /// replaced by `<redacted>`.
    public static func redacted(_ text: String) -> String {
        guard occurs(in: text) else { return text }
        var out = ""
        var rest = Substring(text)
        while let range = rest.firstRange(of: prefix) {
            out += rest[..<range.lowerBound]
            out += "<redacted>"
            rest = rest[range.upperBound...].drop { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        }
        return out + rest
    }
}
