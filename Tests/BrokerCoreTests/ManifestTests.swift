import BrokerCore
import Testing

@Suite struct ManifestTests {
    let ceiling = ProjectCache.Limits(ttlSeconds: 900, maxEntries: 32)

    private func parse(_ text: String, project: String = "demo") throws(ManifestError) -> Manifest {
        try ManifestLoader.parse(Array(text.utf8), path: "/p/demo/.remo/manifest.toml", project: project, ceiling: ceiling)
    }

    private func message(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            #expect(error.kind == .invalid)
            return error.message
        }
    }

    @Test func currentFormWithDefaults() throws {
        let manifest = try parse("""
            schema_version = 1
            project = "demo"
            [secrets.openai_api_key]
            [secrets.gh]
            env_var = "GH_TOKEN"
            [secrets.aws]
            fetch_as = "file"
            file_path = "~/.aws/credentials"
            file_mode = "0640"
            template = "id={{aws_access_key_id}}"
            [cache]
            default_ttl_seconds = 60
            """)
        #expect(manifest.allowlist == ["aws", "gh", "openai_api_key"])
        #expect(manifest.bindings[2].delivery == .env(variable: "OPENAI_API_KEY"))
        #expect(manifest.bindings[0].delivery == .file(path: "~/.aws/credentials", mode: 0o640, template: "id={{aws_access_key_id}}"))
        #expect(manifest.cache == ProjectCache.Limits(ttlSeconds: 60, maxEntries: 32))
        #expect(manifest.allows("gh") && !manifest.allows("GH"))
    }

    @Test func legacyForm() throws {
        let manifest = try parse("""
            schema_version = 1
            [project]
            name = "demo"
            description = "old style"
            [allowlist]
            secrets = ["NPM_TOKEN", "gh"]
            [cache]
            ttl_seconds = 30
            max_entries = 4
            """)
        #expect(manifest.allowlist == ["NPM_TOKEN", "gh"])
        #expect(manifest.bindings[1].delivery == .env(variable: "GH"))
        #expect(manifest.cache == ProjectCache.Limits(ttlSeconds: 30, maxEntries: 4))
        #expect(manifest.description == "old style")
    }

    @Test func errorsNameFileLineAndColumn() {
        let base = "schema_version = 1\nproject = \"demo\"\n"
        let path = "/p/demo/.remo/manifest.toml"
        #expect(message(base + "[secrets.gh]\ncolour = 1\n") == "\(path):4:1: unknown key 'colour' in secrets.gh")
        #expect(message(base + "[secrets.gh]\nenv_var = \"1X\"\n")?.hasPrefix("\(path):4:1: secrets.gh: env_var must match") == true)
        #expect(message(base + "[secrets.a]\nfetch_as = \"file\"\nfile_path = \"/x\"\nfile_mode = \"0620\"\ntemplate = \"t\"\n")?
            .hasPrefix("\(path):6:1: secrets.a: file_mode") == true)
        #expect(message(base + "[secrets.a]\nfetch_as = \"file\"\nfile_mode = \"0600\"\ntemplate = \"t\"\n")?
            .contains("missing file_path") == true)
        #expect(message(base + "[secrets.a]\nfile_path = \"/x\"\n")?.contains("file_path is only for fetch_as = \"file\"") == true)
        #expect(message(base + "[secrets.a]\nenv_var = \"X\"\n[secrets.b]\nenv_var = \"X\"\n")?.contains("both set env var X") == true)
        #expect(message(base + "[cache]\ndefault_max_entries = 33\n")?.contains("a manifest may only lower it") == true)
        #expect(message("schema_version = 2\nproject = \"demo\"\n")?.hasPrefix("\(path):1:1: unsupported schema_version") == true)
        #expect(message("schema_version = 1\nproject = \"other\"\n")?.contains("project directory is named \"demo\"") == true)
        #expect(message("schema_version = 1\n[project]\nname = \"demo\"\n[allowlist]\nsecrets = [\"A\", \"A\"]\n")?.contains("lists A twice") == true)
        #expect(message(base + "[secrets.gh\n")?.hasPrefix("\(path):3:") == true)  // TOML syntax error keeps its position
    }

    @Test func emptyAllowlistIsLegal() throws {
        #expect(try parse("schema_version = 1\nproject = \"demo\"\n").allowlist.isEmpty)
    }
}
