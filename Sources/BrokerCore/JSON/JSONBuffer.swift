import CSeccomp

/// Read access to the values of a parsed JSON text, over the buffer it was parsed from.
public struct JSONBuffer {
    public let bytes: UnsafeBufferPointer<UInt8>

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    public func slice(_ span: JSONSpan) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[span.start..<span.end])
    }

    /// Materialises a span as a `String`. Only for values that are not secret (ops, names,
    /// paths): a `String` cannot be zeroed.
    public func string(_ span: JSONSpan) -> String {
        String(decoding: slice(span), as: UTF8.self)
    }

    public func equals(_ span: JSONSpan, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { slice(span).elementsEqual($0) }
    }

    /// The value of member `key`, if present (first occurrence).
    public func member(_ key: String, of members: [JSONMember]) -> JSONValue? {
        members.first { equals($0.key, key) }?.value
    }

    /// The number as an exact 64-bit integer, or nil if it has a fraction, an exponent or
    /// does not fit.
    public func int64(_ number: JSONNumber) -> Int64? {
        guard number.isInteger else { return nil }
        let digits = slice(number.text)
        var index = 0
        let negative = digits.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var value: Int64 = 0
        while index < digits.count {
            let digit = Int64(digits[index] &- UInt8(ascii: "0"))
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative
                ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
            index += 1
        }
        return value
    }

    /// The number as the nearest Double (strtod), or nil if it overflows to infinity.
    public func double(_ number: JSONNumber) -> Double? {
        let text = slice(number.text)
        guard text.count < 512 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { cString in
            for (offset, byte) in text.enumerated() { cString[offset] = CChar(bitPattern: byte) }
            cString[text.count] = 0
            let value = strtod(cString.baseAddress!, nil)
            return value.isFinite ? value : nil
        }
    }
}

/// A parsed JSON text that owns its bytes. For inputs that are not secret (config, client
/// replies, tests); the daemon parses requests in place in its line buffer instead.
public struct JSONDocument {
    public private(set) var storage: [UInt8]
    public let root: JSONValue

    public init(parsing bytes: [UInt8], options: JSONReader.Options = JSONReader.Options()) throws(JSONError) {
        var storage = bytes
        let result: Result<JSONValue, JSONError> = storage.withUnsafeMutableBufferPointer { buffer in
            do throws(JSONError) {
                return .success(try JSONReader.parse(inPlace: buffer, options: options))
            } catch {
                return .failure(error)
            }
        }
        self.storage = storage
        self.root = try result.get()
    }

    public init(parsing text: String, options: JSONReader.Options = JSONReader.Options()) throws(JSONError) {
        try self.init(parsing: Array(text.utf8), options: options)
    }

    public func withBuffer<R, E: Error>(_ body: (JSONBuffer) throws(E) -> R) throws(E) -> R {
        try storage.withUnsafeBufferPointer { (pointer) throws(E) -> R in try body(JSONBuffer(pointer)) }
    }

    public func string(_ span: JSONSpan) -> String { withBuffer { $0.string(span) } }
    public func bytes(_ span: JSONSpan) -> [UInt8] { Array(storage[span.start..<span.end]) }
    public func member(_ key: String, of members: [JSONMember]) -> JSONValue? { withBuffer { $0.member(key, of: members) } }
    public func int64(_ number: JSONNumber) -> Int64? { withBuffer { $0.int64(number) } }
    public func double(_ number: JSONNumber) -> Double? { withBuffer { $0.double(number) } }

    /// Member `key` of the root object, if the root is an object that has it.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = root else { return nil }
        return member(key, of: members)
    }

    /// Overwrites the bytes (and so every decoded string) with zeros.
    public mutating func zeroize() {
        storage.withUnsafeMutableBytes { SecureZero.zero($0) }
    }
}
