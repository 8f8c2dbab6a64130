import BrokerCore
import Testing

/// JSONTestSuite (test_parsing): y_ must parse, n_ must fail, i_ must finish either way.
@Suite struct JSONConformanceTests {
    @Test func jsonTestSuite() throws {
        let dir = try Conformance.path("json-test-suite/test_parsing")
        let files = try FileSystem.listDirectory(dir).filter { $0.hasSuffix(".json") }
        var accepted: [String] = [], rejected: [String] = []
        var wronglyRejected: [String] = [], wronglyAccepted: [String] = []
        for name in files {
            let bytes = try FileSystem.readFile(dir + "/" + name)
            let ok = (try? JSONDocument(parsing: bytes)) != nil
            if ok { accepted.append(name) } else { rejected.append(name) }
            if name.hasPrefix("y_"), !ok { wronglyRejected.append(name) }
            if name.hasPrefix("n_"), ok { wronglyAccepted.append(name) }
        }
        let yes = files.filter { $0.hasPrefix("y_") }.count
        let no = files.filter { $0.hasPrefix("n_") }.count
        let implementationDefined = files.filter { $0.hasPrefix("i_") }
        print("JSON conformance: \(yes - wronglyRejected.count)/\(yes) y_ accepted, \(no - wronglyAccepted.count)/\(no) n_ rejected, \(implementationDefined.count) i_ finished")
        for name in implementationDefined {
            print("  \(name): \(accepted.contains(name) ? "accepted" : "rejected")")
        }
        #expect(yes == 95)
        #expect(no == 188)
        #expect(implementationDefined.count == 35)
        #expect(wronglyRejected == [], "y_ files rejected")
        #expect(wronglyAccepted == [], "n_ files accepted")
    }
}
