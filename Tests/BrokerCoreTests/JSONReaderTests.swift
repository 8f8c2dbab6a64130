import BrokerCore
import Testing

@Suite struct JSONReaderTests {
    private func parse(_ text: String, _ options: JSONReader.Options = .init()) throws(JSONError) -> JSONDocument {
        try JSONDocument(parsing: text, options: options)
    }

    private func errorKind(_ bytes: [UInt8], _ options: JSONReader.Options = .init()) -> JSONError.Kind? {
        do {
            _ = try JSONDocument(parsing: bytes, options: options)
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func decodesEscapesInPlace() throws {
        let doc = try parse(#"{"k":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#)
        guard case .string(let span)? = doc["k"] else { Issue.record("no string"); return }
        #expect(doc.string(span) == "a\"b\\c/d\né😀")
        // In place: the decoded value starts right after the opening quote of the original.
        #expect(span.start == 6)
    }

    @Test func integersAreExact() throws {
        let doc = try parse("[9223372036854775807,-9223372036854775808,9223372036854775808,1.0,1e2,-0]")
        guard case .array(let items) = doc.root else { Issue.record("no array"); return }
        let ints = items.map { item -> Int64? in
            guard case .number(let n) = item else { return nil }
            return doc.int64(n)
        }
        #expect(ints == [Int64.max, Int64.min, nil, nil, nil, 0])
        guard case .number(let exponent) = items[4] else { return }
        #expect(doc.double(exponent) == 100)
    }

    @Test func depthIsLimited() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(errorKind(deep) == .tooDeep(limit: 64))
        let objects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8)
        #expect(errorKind(objects) == .tooDeep(limit: 64))
        let atLimit = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect((try? parse(atLimit)) != nil)
        #expect(errorKind(Array(("[" + atLimit + "]").utf8)) == .tooDeep(limit: 64))
    }

    @Test func largeStringParses() throws {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: 10 << 20))
        bytes.append(UInt8(ascii: "\""))
        let doc = try JSONDocument(parsing: bytes)
        guard case .string(let span) = doc.root else { Issue.record("no string"); return }
        #expect(span.count == 10 << 20)
    }

    @Test func duplicateKeysRejectedOnlyWhenAsked() throws {
        let text = #"{"op":"get","op":"ping"}"#
        #expect((try? parse(text)) != nil)
        #expect(errorKind(Array(text.utf8), .init(rejectDuplicateKeys: true)) == .duplicateKey)
        // Past the linear-scan threshold the hashed path must agree.
        let many = (0..<40).map { "\"k\($0)\":1" }.joined(separator: ",")
        #expect((try? parse("{\(many)}", .init(rejectDuplicateKeys: true))) != nil)
        #expect(errorKind(Array("{\(many),\"k7\":2}".utf8), .init(rejectDuplicateKeys: true)) == .duplicateKey)
    }

    @Test func errorsNameOffsetsNotBytes() {
        do {
            _ = try parse(#"{"secret":"ghp_MARKER\q"}"#)
            Issue.record("accepted a bad escape")
        } catch {
            #expect(error.kind == .invalidEscape)
            #expect(error.offset == 21)
            #expect(!error.description.contains("MARKER"))
        }
    }

    @Test func rejectsInvalidUTF8AndLoneSurrogates() {
        #expect(errorKind([0x22, 0xC0, 0xAF, 0x22]) == .invalidUTF8)  // overlong "/"
        #expect(errorKind([0x22, 0xED, 0xA0, 0x80, 0x22]) == .invalidUTF8)  // encoded surrogate
        #expect(errorKind(Array(#""\ud800""#.utf8)) == .unpairedSurrogate)
        #expect(errorKind(Array(#""\udc00\ud800""#.utf8)) == .unpairedSurrogate)
    }

    /// Random and mutated inputs: the reader must return (value or error), never trap.
    @Test func survivesRandomInput() {
        var rng = SplitMix64(seed: 0x5EED)
        let seeds = [#"{"op":"push-creds","secrets":{"a":"b","c":{"d":"e"}}}"#, "[1,2.5e3,-0,true,null]", #""\u00e9\ud83d\ude00""#]
        var parsed = 0
        for round in 0..<20_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let position = Int(rng.next() % UInt64(bytes.count + 1))
                switch rng.next() % 3 {
                case 0 where position < bytes.count: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                default: if position < bytes.count { bytes.remove(at: position) }
                }
            }
            if (try? JSONDocument(parsing: bytes)) != nil { parsed += 1 }
        }
        #expect(parsed > 0)
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesPerRFC() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("s", "q\"b\\n\n\t\u{01}\u{7f}é")
        writer.field("n", -42)
        writer.field("t", true)
        writer.key("a")
        writer.beginArray()
        writer.null()
        writer.double(1.5)
        writer.double(.infinity)
        writer.endArray()
        writer.endObject()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"s":"q\"b\\n\n\t\u0001\#u{7f}é","n":-42,"t":true,"a":[null,1.5,null]}"#)
    }

    @Test func roundTripsWithSortedKeys() throws {
        let doc = try JSONDocument(parsing: #"{"b":[1,{"z":null,"y":"\u0000"}],"a":"x","é":1e3}"#)
        var writer = JSONWriter()
        doc.withBuffer { writer.value(doc.root, from: $0, sortedKeys: true) }
        let canonical = String(decoding: writer.bytes, as: UTF8.self)
        #expect(canonical == #"{"a":"x","b":[1,{"y":"\u0000","z":null}],"é":1e3}"#)
        // Canonical output is a fixed point.
        let again = try JSONDocument(parsing: writer.bytes)
        var second = JSONWriter()
        again.withBuffer { second.value(again.root, from: $0, sortedKeys: true) }
        #expect(second.bytes == writer.bytes)
    }
}

/// Small deterministic PRNG so random tests are repeatable.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
