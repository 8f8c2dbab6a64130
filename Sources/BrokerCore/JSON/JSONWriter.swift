/// Streaming JSON writer into a byte array. Commas are placed automatically; the caller
/// writes keys and values in the order it wants them (so output is deterministic), or
/// re-encodes a parsed value with `value(_:from:sortedKeys:)`.
public struct JSONWriter {
    public var bytes: [UInt8]
    /// True when the next element is the first of its container (or follows a key).
    private var atContainerStart = true

    /// Reserve enough up front when the output will hold a secret: a reallocation would
    /// free the old storage without zeroing it. A string of n bytes encodes to at most
    /// 6n + 2 bytes.
    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Zeroes the output (after it was copied where it belongs) and empties it.
    public mutating func zeroize() {
        SecureZero.zero(&bytes)
        bytes.removeAll(keepingCapacity: true)
        atContainerStart = true
    }

    private mutating func separate() {
        if !atContainerStart { bytes.append(UInt8(ascii: ",")) }
        atContainerStart = false
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); atContainerStart = true }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); atContainerStart = false }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); atContainerStart = true }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); atContainerStart = false }

    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        atContainerStart = true
    }

    public mutating func string(_ value: String) { separate(); appendQuoted(value) }

    /// Writes raw UTF-8 bytes as a JSON string (for secret values straight from the arena).
    public mutating func string(bytes value: UnsafeBufferPointer<UInt8>) {
        separate()
        JSONWriter.appendQuoted(value, to: &bytes)
    }

    public mutating func int(_ value: Int64) { separate(); bytes.append(contentsOf: String(value).utf8) }
    public mutating func int(_ value: Int) { int(Int64(value)) }
    public mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }

    /// A finite double in the shortest form that reads back exactly; non-finite becomes null
    /// (JSON has no representation for it).
    public mutating func double(_ value: Double) {
        guard value.isFinite else { return null() }
        separate()
        bytes.append(contentsOf: value.description.utf8)
    }

    // Convenience pairs for the common `"key": value` case.
    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    public mutating func field(_ name: String, _ value: Int) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    /// Re-encodes a parsed value. With `sortedKeys`, object members are written in byte order
    /// of their keys, giving one canonical form per value.
    public mutating func value(_ value: JSONValue, from buffer: JSONBuffer, sortedKeys: Bool = false) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let number):
            separate()
            bytes.append(contentsOf: buffer.slice(number.text))
        case .string(let span): string(bytes: buffer.slice(span))
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element, from: buffer, sortedKeys: sortedKeys) }
            endArray()
        case .object(let members):
            beginObject()
            let ordered = sortedKeys
                ? members.sorted { buffer.slice($0.key).lexicographicallyPrecedes(buffer.slice($1.key)) }
                : members
            for member in ordered {
                separate()
                JSONWriter.appendQuoted(buffer.slice(member.key), to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                atContainerStart = true
                self.value(member.value, from: buffer, sortedKeys: sortedKeys)
            }
            endObject()
        }
    }

    private mutating func appendQuoted(_ text: String) {
        var text = text
        text.withUTF8 { JSONWriter.appendQuoted($0, to: &bytes) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `value` as a quoted JSON string, escaping `"`, `\` and control characters.
    public static func appendQuoted(_ value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < value.count {
            // Skip 8 plain bytes at a time: a `get` reply quotes the whole secret value, and
            // the byte-by-byte scan was the broker's hottest function at 50-client throughput
            // (perf: ~18% of its CPU with 1 KiB values).
            if index + 8 <= value.count,
               !Self.anyNeedsEscape(UnsafeRawPointer(value.baseAddress! + index).loadUnaligned(as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = value[index]
            index += 1
            let escape: UInt8
            switch byte {
            case UInt8(ascii: "\""): escape = UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
            case 0x0A: escape = UInt8(ascii: "n")
            case 0x0D: escape = UInt8(ascii: "r")
            case 0x09: escape = UInt8(ascii: "t")
            case 0x08: escape = UInt8(ascii: "b")
            case 0x0C: escape = UInt8(ascii: "f")
            case 0x00..<0x20: escape = UInt8(ascii: "u")
            default: continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: value[runStart..<(index - 1)]))
            out.append(UInt8(ascii: "\\"))
            out.append(escape)
            if escape == UInt8(ascii: "u") {
                out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            }
            runStart = index
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: value[runStart..<value.count]))
        out.append(UInt8(ascii: "\""))
    }

    /// Whether any of the 8 bytes in `word` is below 0x20, `"` or `\` (SWAR "has less" and
    /// "has zero" tests; exact as an any-byte test, which is all the caller needs).
    @inline(__always)
    static func anyNeedsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5C)
        let quoteZero = (quote &- ones) & ~quote & highs
        let backslashZero = (backslash &- ones) & ~backslash & highs
        return control | quoteZero | backslashZero != 0
    }
}
