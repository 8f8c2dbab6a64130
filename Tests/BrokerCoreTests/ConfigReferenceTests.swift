import BrokerCore
import Glibc
import Testing

/// docs/operations.md embeds the generated config reference; the shipped config names only
/// real keys. Both come from `ConfigKeys.all`, the one place keys and defaults live.
@Suite struct ConfigReferenceTests {
    static let repository: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/BrokerCoreTests/<this file>
        return components.joined(separator: "/")
    }()

    @Test func operationsDocEmbedsTheGeneratedReference() throws {
        let text = String(decoding: try FileSystem.readFile(Self.repository + "/docs/operations.md"), as: UTF8.self)
        #expect(text.contains(ConfigReference.docsSection),
                "docs/operations.md is out of date: run ci/update-generated-docs.sh .build/debug/remo-broker")
    }

    @Test func referenceListsEveryKeyWithItsDefault() {
        let root = BrokerConfig(environment: Environment(uid: 0, variables: [:]))
        for key in ConfigKeys.all {
            #expect(ConfigReference.markdown.contains("| `\(key.name)` (`\(key.flag)`) |"), "\(key.name)")
            #expect(ConfigReference.markdown.contains("| `\(key.defaultValue(in: root))` |"), "\(key.name)")
        }
    }

    /// Every key the shipped config mentions, set or commented out, exists; the commented
    /// `[units]` example loads once uncommented.
    @Test func shippedConfigMentionsOnlyRealKeys() throws {
        let text = String(decoding: try FileSystem.readFile(Self.repository + "/packaging/config.toml"), as: UTF8.self)
        var inTable = false
        var uncommented = ""
        var mentioned: [String] = []
        for line in text.split(separator: "\n") {
            let body: Substring = line.hasPrefix("# ") ? line.dropFirst(2) : line
            if body.hasPrefix("[units.") { inTable = true }
            if inTable { uncommented += String(body) + "\n" }
            guard let equals = body.firstIndex(of: "="), !body.hasPrefix("#") else { continue }
            let key = String(body[..<equals]).split(separator: " ").first.map(String.init) ?? ""
            guard key.allSatisfy({ $0.isLowercase || $0 == "_" }) else { continue }
            if inTable {
                #expect(key == "secrets", "packaging/config.toml: unknown key \(key) in a [units] table")
            } else {
                mentioned.append(String(key))
            }
        }
        #expect(mentioned.count >= ConfigKeys.all.count - 1, "\(mentioned)")  // all but `user`
        for key in mentioned { #expect(ConfigKeys.named(key) != nil, "packaging/config.toml: unknown key \(key)") }
        let example = try writeTemp(uncommented)
        defer { unlink(example) }
        let units = try ConfigLoader.load(file: example, flags: [], allowUnlockedMemory: false).units
        #expect(units.secretsByUnit == ["ci-runner.service": ["aws", "gh"]], "the [units] example in packaging/config.toml")
    }
}
