@testable import BrokerCore
import Testing

@Suite struct JSONWriterEscapingTests {
    /// Byte-at-a-time reference for `appendQuoted` (which skips 8 plain bytes at a time).
    private func reference(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x00..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        return out + [0x22]
    }

    @Test func everyByteAtEveryPositionOfAWordIsEscapedLikeTheReference() {
        for length in [1, 7, 8, 9, 16, 17] {
            for position in 0..<length {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = UInt8(value)
                    var out: [UInt8] = []
                    bytes.withUnsafeBufferPointer { JSONWriter.appendQuoted($0, to: &out) }
                    #expect(out == reference(bytes), "byte \(value) at \(position) of \(length)")
                }
            }
        }
    }

    @Test func plainHighBytesAndEmptyStringsPassThrough() {
        for bytes in [[UInt8](), Array("é€ plain text with no escapes at all".utf8), [UInt8](repeating: 0xFF, count: 33)] {
            var out: [UInt8] = []
            bytes.withUnsafeBufferPointer { JSONWriter.appendQuoted($0, to: &out) }
            #expect(out == reference(bytes))
        }
    }
}
