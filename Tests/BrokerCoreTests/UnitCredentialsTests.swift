@testable import BrokerCore
import Glibc
import Testing

/// `[units."NAME.service"]` config tables and systemd's peer address (SPEC §12).
@Suite struct UnitCredentialsTests {
    private func load(_ text: String) throws(ConfigError) -> BrokerConfig {
        let path = try! writeTemp(text)
        defer { unlink(path) }
        return try ConfigLoader.load(file: path, flags: [], allowUnlockedMemory: false,
                                     environment: Environment(uid: 1000, variables: ["HOME": "/home/dev"]))
    }

    private func error(_ text: String) -> String {
        do {
            _ = try load(text)
            return "(loaded)"
        } catch {
            // Drop the temp path: "<path>:L:C: message" → "L:C: message".
            return error.message.split(separator: ":", maxSplits: 1).last.map(String.init) ?? error.message
        }
    }

    @Test func unitTablesLoadSortedWithTheCredentialsSocketBesideTheOthers() throws {
        let config = try load("""
            socket_dir = "/srv/run"
            [units."ci-runner.service"]
            secrets = ["gh", "aws"]
            [units."backup@nightly.service"]
            secrets = []
            """)
        #expect(config.units.secretsByUnit == ["ci-runner.service": ["aws", "gh"], "backup@nightly.service": []])
        #expect(config.units.allows(unit: "ci-runner.service", secret: "gh"))
        #expect(!config.units.allows(unit: "ci-runner.service", secret: "npm"))
        #expect(!config.units.allows(unit: "other.service", secret: "gh"))
        #expect(config.credentialsSocketPath == "/srv/run/credentials.sock")
        let placed = try load("credentials_socket = \"/srv/creds.sock\"\n")
        #expect(placed.credentialsSocketPath == "/srv/creds.sock")
        #expect(placed.units.isEmpty)
    }

    @Test func badUnitTablesAreErrorsNamingLineAndColumn() {
        #expect(error("[units.\"ci.service\"]\nsecrets = [\"gh\"]\nsecret = [\"x\"]\n")
            == "3:1: unknown key 'secret' in units.\"ci.service\" (only secrets)")
        #expect(error("[units.\"ci\"]\nsecrets = []\n").hasPrefix("1:8: 'ci' is not a systemd unit name"))
        #expect(error("[units.\"a/b.service\"]\nsecrets = []\n").hasPrefix("1:8: 'a/b.service' is not a systemd unit name"))
        #expect(error("[units.\".service\"]\nsecrets = []\n").contains("is not a systemd unit name"))
        #expect(error("units = 1\n") == "1:1: units must be a table of [units.\"NAME.service\"] tables, not integer")
        #expect(error("[units]\n\"ci.service\" = 1\n") == "2:1: units.\"ci.service\" must be a table, not integer")
        #expect(error("[units.\"ci.service\"]\n") == "1:8: units.\"ci.service\" needs secrets = [\"name\", ...]")
        #expect(error("[units.\"ci.service\"]\nsecrets = \"gh\"\n")
            == "2:1: units.\"ci.service\".secrets must be an array of secret names, not string")
        #expect(error("[units.\"ci.service\"]\nsecrets = [\"gh\", \"no-dash\"]\n")
            == "2:1: units.\"ci.service\".secrets #2 must be a secret name (^[A-Za-z0-9_]{1,128}$)")
        #expect(error("[units.\"ci.service\"]\nsecrets = [\"gh\", 3]\n").contains("secrets #2 must be a secret name"))
        #expect(error("[units.\"ci.service\"]\nsecrets = [\"gh\", \"gh\"]\n") == "2:1: units.\"ci.service\".secrets names gh twice")
        #expect(error("credentials_socket = \"relative.sock\"\n") == "1:1: credentials_socket must be an absolute path")
    }

    @Test func unitNamesFollowSystemdsRules() {
        for good in ["a.service", "ci-runner.service", "backup@nightly.service", "x.socket", "home.mount", "dev-sda2.swap",
                     "a:b_c.service", "weird\\x2dname.service"] {
            #expect(UnitCredentials.isUnitName(good), "\(good)")
        }
        for bad in ["", ".service", "a.timer", "a.target", "a b.service", "a/b.service", "ä.service",
                    String(repeating: "a", count: 248) + ".service"] {
            #expect(!UnitCredentials.isUnitName(bad), "\(bad)")
        }
    }

    @Test func systemdPeerAddressesParse() {
        func request(_ text: String) -> UnitCredentialRequest? {
            UnitCredentialRequest(peerAddress: [0] + Array(text.utf8))
        }
        #expect(request("caa2ebd4b61d1311/unit/credprobe.service/gh") == UnitCredentialRequest(unit: "credprobe.service", id: "gh"))
        #expect(request("caa2ebd4b61d1311/unit/ci.service/aws.aws_access_key_id")?.id == "aws.aws_access_key_id")
        #expect(UnitCredentialRequest(peerAddress: Array("/run/x.sock".utf8)) == nil, "a path address")
        #expect(UnitCredentialRequest(peerAddress: [UInt8]()) == nil, "an unbound peer")
        for bad in ["caa2/unit/ci.service", "caa2/unit/ci.service/gh/x", "/unit/ci.service/gh", "caa2/user/ci.service/gh",
                    "caa2/unit//gh", "caa2/unit/ci.service/", "caa2/unit/ci/gh", "caa2/unit/ci.service/g h",
                    "caa2/unit/ci.service/g\u{0}h"] {
            #expect(request(bad) == nil, "\(bad)")
        }
        #expect(UnitCredentialRequest(unit: "u.service", id: "gh").secretAndField! == ("gh", nil))
        #expect(UnitCredentialRequest(unit: "u.service", id: "aws.key").secretAndField! == ("aws", "key"))
        for bad in ["a.b.c", "a.", ".a", "a-b", ""] {
            #expect(UnitCredentialRequest(unit: "u.service", id: bad).secretAndField == nil, "\(bad)")
        }
    }

    @Test func changedUnitsNamesAddedRemovedAndEdited() {
        let old = UnitCredentials(["a.service": ["gh"], "b.service": ["x"], "c.service": ["y"]])
        let new = UnitCredentials(["a.service": ["gh"], "b.service": ["x", "z"], "d.service": []])
        #expect(new.changedUnits(since: old) == ["b.service", "c.service", "d.service"])
        #expect(new.changedUnits(since: new).isEmpty)
    }
}
