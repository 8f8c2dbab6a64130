import BrokerCore
import Testing

/// toml-test (TOML 1.0.0 list): every valid/ file must parse and equal its tagged-JSON
/// expectation; every invalid/ file must be rejected. Missing data fails the test, never skips it.
@Suite struct TOMLConformanceTests {
    static let listFile = "toml-test/tests/files-toml-1.0.0"

    @Test func tomlTest100() throws {
        let listPath = try Conformance.path(Self.listFile)
        let testsDirectory = String(listPath.dropLast("files-toml-1.0.0".count))
        let list = String(decoding: try FileSystem.readFile(listPath), as: UTF8.self)
        // "\r\n" is one Character in Swift, so it is a separator of its own.
        let tomlFiles = list.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
            .filter { $0.hasSuffix(".toml") }

        var validTotal = 0, invalidTotal = 0
        var validFailures: [String] = [], invalidAccepted: [String] = []
        for relative in tomlFiles {
            let bytes = try FileSystem.readFile(testsDirectory + relative)
            if relative.hasPrefix("valid/") {
                validTotal += 1
                if let problem = checkValid(relative, bytes, jsonPath: testsDirectory + relative.dropLast(5) + ".json") {
                    validFailures.append("\(relative): \(problem)")
                }
            } else if relative.hasPrefix("invalid/") {
                invalidTotal += 1
                if (try? TOMLReader.parse(bytes)) != nil { invalidAccepted.append(relative) }
            }
        }

        let validMatched = validTotal - validFailures.count
        let invalidRejected = invalidTotal - invalidAccepted.count
        print("TOML conformance: \(validMatched)/\(validTotal) valid matched, \(invalidRejected)/\(invalidTotal) invalid rejected")
        for failure in validFailures { print("  valid file failed: \(failure)") }
        for name in invalidAccepted { print("  invalid file accepted: \(name)") }

        #expect(validTotal == 210, "valid/*.toml files listed in \(Self.listFile)")
        #expect(invalidTotal == 499, "invalid/*.toml files listed in \(Self.listFile)")
        #expect(validMatched == 210, "valid files that failed: \(validFailures)")
        #expect(invalidRejected == 499, "invalid files that were accepted: \(invalidAccepted)")
    }

    /// nil when `bytes` parses and matches the expectation file, else what went wrong.
    private func checkValid(_ name: String, _ bytes: [UInt8], jsonPath: String) -> String? {
        let table: TOMLTable
        do {
            table = try TOMLReader.parse(bytes)
        } catch {
            return "rejected: \(error)"
        }
        let expected: JSONDocument
        do {
            expected = try JSONDocument(parsing: try FileSystem.readFile(jsonPath))
        } catch {
            return "cannot read expectation \(jsonPath): \(error)"
        }
        return TaggedJSON(document: expected).mismatch(.table(table), expected.root, path: "")
    }
}

/// Compares a TOML value with toml-test's tagged JSON (`{"type":"integer","value":"42"}`)
/// by meaning: numbers numerically (NaN equals NaN), date-times by value (`Z` == `+00:00`,
/// `.6` == `.600`), tables by key set, arrays element by element.
private struct TaggedJSON {
    let document: JSONDocument

    func mismatch(_ actual: TOMLValue, _ expected: JSONValue, path: String) -> String? {
        switch expected {
        case .object(let members):
            if case .table(let table) = actual {
                return tableMismatch(table, members, path: path)
            }
            guard let (type, text) = tag(members) else {
                return "\(path): expected a table, got \(actual.typeName)"
            }
            return scalarMismatch(actual, type: type, text: text).map { "\(path): \($0)" }
        case .array(let elements):
            guard case .array(let items) = actual else { return "\(path): expected an array, got \(actual.typeName)" }
            guard items.count == elements.count else {
                return "\(path): expected \(elements.count) array elements, got \(items.count)"
            }
            for (i, (item, element)) in zip(items, elements).enumerated() {
                if let problem = mismatch(item, element, path: "\(path)[\(i)]") { return problem }
            }
            return nil
        default:
            return "\(path): unexpected JSON \(expected.kindName) in the expectation"
        }
    }

    private func tableMismatch(_ table: TOMLTable, _ members: [JSONMember], path: String) -> String? {
        let expectedKeys = members.map { document.string($0.key) }
        let actualKeys = table.keys
        guard Set(expectedKeys.map { Array($0.utf8) }) == Set(actualKeys.map { Array($0.utf8) }),
              expectedKeys.count == actualKeys.count
        else {
            return "\(path): keys \(actualKeys.sorted()) instead of \(expectedKeys.sorted())"
        }
        for member in members {
            let key = document.string(member.key)
            guard let value = table.entries.first(where: { $0.key.utf8.elementsEqual(key.utf8) })?.value else {
                return "\(path): missing key \(key)"
            }
            if let problem = mismatch(value, member.value, path: path.isEmpty ? key : "\(path).\(key)") { return problem }
        }
        return nil
    }

    /// `{"type": "...", "value": "..."}` with exactly those two string members.
    private func tag(_ members: [JSONMember]) -> (type: String, value: String)? {
        guard members.count == 2,
              case .string(let type)? = document.member("type", of: members),
              case .string(let value)? = document.member("value", of: members)
        else { return nil }
        return (document.string(type), document.string(value))
    }

    private func scalarMismatch(_ actual: TOMLValue, type: String, text: String) -> String? {
        let matches: Bool
        switch (type, actual) {
        case ("string", .string(let value)):
            matches = value.utf8.elementsEqual(text.utf8)
        case ("integer", .integer(let value)):
            matches = Int64(text) == value
        case ("float", .float(let value)):
            switch text {
            case "nan", "+nan", "-nan": matches = value.isNaN
            case "inf", "+inf": matches = value == .infinity
            case "-inf": matches = value == -.infinity
            default: matches = Double(text) == value
            }
        case ("bool", .boolean(let value)):
            matches = text == (value ? "true" : "false")
        case ("datetime", .offsetDateTime(let value)):
            matches = RFC3339(text).dateTime(withOffset: true) == value
        case ("datetime-local", .localDateTime(let value)):
            matches = RFC3339(text).dateTime(withOffset: false) == value
        case ("date-local", .localDate(let value)):
            matches = RFC3339(text).dateOnly() == value
        case ("time-local", .localTime(let value)):
            matches = RFC3339(text).timeOnly() == value
        default:
            return "expected \(type) \(text), got \(actual.typeName)"
        }
        return matches ? nil : "expected \(type) \(text), got \(actual)"
    }
}

/// A small RFC 3339 reader for the expectation side, independent of the TOML reader under test.
private struct RFC3339 {
    let bytes: [UInt8]
    init(_ text: String) { bytes = Array(text.utf8) }

    func dateTime(withOffset: Bool) -> TOMLDateTime? {
        var i = 0
        guard let date = date(&i), i < bytes.count, [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[i])
        else { return nil }
        i += 1
        guard let time = time(&i) else { return nil }
        var offset: Int? = nil
        if withOffset {
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: "Z") || bytes[i] == UInt8(ascii: "z") {
                offset = 0
                i += 1
            } else {
                let sign = bytes[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let hours = number(&i, 2), colon(&i), let minutes = number(&i, 2) else { return nil }
                offset = sign * (hours * 60 + minutes)
            }
        }
        guard i == bytes.count else { return nil }
        return TOMLDateTime(date: date, time: time, offsetMinutes: offset)
    }

    func dateOnly() -> TOMLDate? {
        var i = 0
        guard let date = date(&i), i == bytes.count else { return nil }
        return date
    }

    func timeOnly() -> TOMLTime? {
        var i = 0
        guard let time = time(&i), i == bytes.count else { return nil }
        return time
    }

    private func date(_ i: inout Int) -> TOMLDate? {
        guard let year = number(&i, 4), dash(&i), let month = number(&i, 2), dash(&i), let day = number(&i, 2) else { return nil }
        return TOMLDate(year: year, month: month, day: day)
    }

    private func time(_ i: inout Int) -> TOMLTime? {
        guard let hour = number(&i, 2), colon(&i), let minute = number(&i, 2), colon(&i), let second = number(&i, 2) else { return nil }
        var nanosecond = 0
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 100_000_000
            while i < bytes.count, let digit = digit(bytes[i]) {
                nanosecond += digit * scale
                scale /= 10
                i += 1
            }
        }
        return TOMLTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
    }

    private func number(_ i: inout Int, _ count: Int) -> Int? {
        guard i + count <= bytes.count else { return nil }
        var value = 0
        for offset in 0..<count {
            guard let d = digit(bytes[i + offset]) else { return nil }
            value = value * 10 + d
        }
        i += count
        return value
    }

    private func digit(_ b: UInt8) -> Int? {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") ? Int(b - UInt8(ascii: "0")) : nil
    }

    private func dash(_ i: inout Int) -> Bool { expect(&i, UInt8(ascii: "-")) }
    private func colon(_ i: inout Int) -> Bool { expect(&i, UInt8(ascii: ":")) }

    private func expect(_ i: inout Int, _ b: UInt8) -> Bool {
        guard i < bytes.count && bytes[i] == b else { return false }
        i += 1
        return true
    }
}
