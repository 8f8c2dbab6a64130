@testable import BrokerCore
import Testing

/// The registry document: version 2 with pinned manifests, version 1 (0.1.0) still read.
@Suite struct RegistryFileTests {
    static let ceiling = ProjectCache.Limits(ttlSeconds: 900, maxEntries: 32)

    static func pinned() throws -> PinnedManifest {
        let text = """
            schema_version = 1
            project = "alpha"
            [secrets.gh]
            env_var = "GH_TOKEN"
            [secrets.aws]
            fetch_as = "file"
            file_path = "~/.aws/credentials"
            file_mode = "0600"
            template = "[default]\\nid={{aws_access_key_id}}\\n"
            [cache]
            default_ttl_seconds = 60
            """
        let manifest = try ManifestLoader.parse(Array(text.utf8), path: "/p/alpha/.remo/manifest.toml", project: "alpha", ceiling: ceiling)
        return PinnedManifest(manifest: manifest, sha256: SHA256.hexDigest(Array(text.utf8)))
    }

    @Test func pinnedRecordsRoundTrip() throws {
        let records = [
            ProjectRecord(name: "alpha", projectPath: "/p/alpha", allowedUIDs: [1000, 1001], socketGID: 100, pin: try Self.pinned()),
            ProjectRecord(name: "beta", projectPath: "/p/beta", allowedUIDs: nil, socketGID: nil, pin: nil),
        ]
        let decoded = try RegistryFile.decode(RegistryFile.encode(records))
        #expect(decoded == records)
        #expect(decoded[0].pin?.manifest.cache == ProjectCache.Limits(ttlSeconds: 60, maxEntries: 32))
    }

    @Test func version1HasNoPins() throws {
        let text = #"{"version":1,"projects":[{"name":"alpha","project_path":"/p/alpha","allowed_uids":[7]}]}"#
        let records = try RegistryFile.decode(Array(text.utf8))
        #expect(records == [ProjectRecord(name: "alpha", projectPath: "/p/alpha", allowedUIDs: [7], socketGID: nil, pin: nil)])
    }

    /// A registry that does not hold what the broker wrote never becomes an allowlist.
    @Test(arguments: [
        #"{"version":3,"projects":[]}"#,
        #"{"version":2,"projects":[{"name":"Bad Name","project_path":"/p"}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":[]}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":{"path":"x","sha256":"00","cache":{"ttl_seconds":1,"max_entries":1},"secrets":[]}}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":{"path":"x","sha256":"\#(String(repeating: "0", count: 64))","cache":{"ttl_seconds":0,"max_entries":1},"secrets":[]}}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":{"path":"x","sha256":"\#(String(repeating: "0", count: 64))","cache":{"ttl_seconds":1,"max_entries":1},"secrets":[{"name":"a b","fetch_as":"env","env_var":"A"}]}}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":{"path":"x","sha256":"\#(String(repeating: "0", count: 64))","cache":{"ttl_seconds":1,"max_entries":1},"secrets":[{"name":"a","fetch_as":"file","file_path":"/f","file_mode":"0666","template":"t"}]}}]}"#,
        #"{"version":2,"projects":[{"name":"a","project_path":"/a","manifest":{"path":"x","sha256":"\#(String(repeating: "0", count: 64))","cache":{"ttl_seconds":1,"max_entries":1},"secrets":[{"name":"a","fetch_as":"env","env_var":"A"},{"name":"a","fetch_as":"env","env_var":"B"}]}}]}"#,
    ])
    func corruptDocumentsAreRejected(_ text: String) {
        #expect(throws: RegistryFile.Corrupt.self) { try RegistryFile.decode(Array(text.utf8)) }
    }
}
