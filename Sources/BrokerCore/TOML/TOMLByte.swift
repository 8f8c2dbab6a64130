// Byte-level helpers shared by the TOML reader's files. Namespaced so they cannot clash with
// other readers in the module.

enum TOMLByte {
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let hash = UInt8(ascii: "#")
    static let plus = UInt8(ascii: "+")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let dot = UInt8(ascii: ".")
    static let colon = UInt8(ascii: ":")
    static let equals = UInt8(ascii: "=")
    static let leftBracket = UInt8(ascii: "[")
    static let backslash = UInt8(ascii: "\\")
    static let rightBracket = UInt8(ascii: "]")
    static let underscore = UInt8(ascii: "_")
    static let leftBrace = UInt8(ascii: "{")
    static let rightBrace = UInt8(ascii: "}")

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// A-Z a-z 0-9 _ -
    @inline(__always)
    static func isBareKeyByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), underscore, minus:
            return true
        default:
            return false
        }
    }

    /// U+0000...U+001F except tab, and U+007F: not allowed raw in comments or strings.
    @inline(__always)
    static func isControlCharacter(_ b: UInt8) -> Bool {
        (b < 0x20 && b != tab) || b == 0x7F
    }

    static func hexDigitValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Appends the UTF-8 form of `scalar`, which the caller has checked is a Unicode scalar value.
    static func appendUTF8(_ scalar: UInt32, to content: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            content.append(UInt8(scalar))
        case 0x80..<0x800:
            content.append(0xC0 | UInt8(scalar >> 6))
            content.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            content.append(0xE0 | UInt8(scalar >> 12))
            content.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            content.append(0x80 | UInt8(scalar & 0x3F))
        default:
            content.append(0xF0 | UInt8((scalar >> 18) & 0x07))
            content.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            content.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            content.append(0x80 | UInt8(scalar & 0x3F))
        }
    }

    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or nil.
    /// Follows Unicode Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF.
    static func firstInvalidUTF8Byte(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        let count = bytes.count
        while i < count {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            let trailing: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: trailing = 1
            case 0xE0: trailing = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
            case 0xED: trailing = 2; high = 0x9F
            case 0xF0: trailing = 3; low = 0x90
            case 0xF1...0xF3: trailing = 3
            case 0xF4: trailing = 3; high = 0x8F
            default: return i
            }
            guard count - i > trailing else { return i }
            guard bytes[i + 1] >= low && bytes[i + 1] <= high else { return i }
            var k = 2
            while k <= trailing {
                guard bytes[i + k] & 0xC0 == 0x80 else { return i }
                k += 1
            }
            i += trailing + 1
        }
        return nil
    }
}

/// Text for error messages.
enum TOMLText {
    /// "U+001F"
    static func scalarName(_ b: UInt8) -> String { "U+" + hex(UInt32(b), width: 4) }

    static func hex<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// A key path for messages: bare parts as written, others quoted with control characters
    /// escaped, cut at 80 characters so a hostile key cannot flood a log line.
    static func describeKey<S: Sequence>(_ parts: S) -> String where S.Element == TOMLKeyPart {
        let limit = 80
        var text = ""
        var length = 0  // in Unicode scalars
        func add(_ piece: String) {
            text += piece
            length += piece.unicodeScalars.count
        }
        for part in parts {
            if length > 0 { add(".") }
            if !part.bytes.isEmpty && part.bytes.allSatisfy(TOMLByte.isBareKeyByte) {
                add(part.name)
            } else {
                add("\"")
                for scalar in part.name.unicodeScalars where length <= limit {
                    switch scalar {
                    case "\"": add("\\\"")
                    case "\\": add("\\\\")
                    case _ where scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0):
                        add("\\u" + hex(scalar.value, width: 4))
                    default: add(String(scalar))
                    }
                }
                add("\"")
            }
            if length > limit { break }
        }
        if length > limit {
            text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit - 3))) + "..."
        }
        return text
    }
}
