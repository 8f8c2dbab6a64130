import BrokerCore
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

    /// Every key the shipped config mentions, set or commented out, exists.
    @Test func shippedConfigMentionsOnlyRealKeys() throws {
        let text = String(decoding: try FileSystem.readFile(Self.repository + "/packaging/config.toml"), as: UTF8.self)
        let mentioned = text.split(separator: "\n").compactMap { line -> String? in
            let body = line.hasPrefix("# ") ? line.dropFirst(2) : line[...]
            guard let equals = body.firstIndex(of: "="), !body.hasPrefix("#") else { return nil }
            let key = body[..<equals].trimmingSuffix(while: { $0 == " " })
            return key.allSatisfy({ $0.isLowercase || $0 == "_" }) ? String(key) : nil
        }
        #expect(mentioned.count >= ConfigKeys.all.count - 1, "\(mentioned)")  // all but `user`
        for key in mentioned { #expect(ConfigKeys.named(key) != nil, "packaging/config.toml: unknown key \(key)") }
    }
}

extension Substring {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}
