@testable import BrokerCore
import Glibc
import Testing

@Suite struct UserAccountTests {
    static let passwd = """
        # comment
        root:x:0:0:root:/root:/bin/bash
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
        broker:x:990:985::/var/lib/remo-broker:/usr/sbin/nologin
        +nis
        broken:line
        """
    static let group = """
        root:x:0:
        nogroup:x:65534:
        remo:x:985:
        devs:x:1000:alice,broker
        docker:x:999:broker
        other:x:1001:brokerx
        """

    private func resolve(_ spec: String) throws -> UserAccount {
        try UserAccount.resolve(spec, passwd: Self.passwd, group: Self.group)
    }

    @Test func nameResolvesWithPrimaryAndSupplementaryGroups() throws {
        let account = try resolve("broker")
        #expect(account.uid == 990 && account.gid == 985)
        #expect(account.groups == [985, 1000, 999])  // primary first; "brokerx" is not "broker"
    }

    @Test func numericUidUsesItsPasswdEntry() throws {
        let account = try resolve("65534")
        #expect(account == UserAccount(uid: 65534, gid: 65534, groups: [65534], label: "65534"))
    }

    @Test func explicitGroupByNameOrNumber() throws {
        #expect(try resolve("broker:devs").gid == 1000)
        #expect(try resolve("nobody:985").gid == 985)
        let unlisted = try resolve("4000:4000")  // no entry at all: numeric ids only
        #expect(unlisted == UserAccount(uid: 4000, gid: 4000, groups: [4000], label: "4000:4000"))
    }

    @Test func refusals() {
        #expect(throws: ConfigError.self) { try resolve("nosuchuser") }
        #expect(throws: ConfigError.self) { try resolve("4000") }  // group unknown without an entry
        #expect(throws: ConfigError.self) { try resolve("broker:nosuchgroup") }
        #expect(throws: ConfigError.self) { try resolve("root") }
        #expect(throws: ConfigError.self) { try resolve("0:0") }
        #expect(throws: ConfigError.self) { try resolve("") }
        #expect(throws: ConfigError.self) { try resolve("broker:") }
        #expect(throws: ConfigError.self) { try resolve("4294967295:1") }  // the "no change" id
        #expect(throws: ConfigError.self) { try resolve("+nis") }
    }

    @Test func groupsResolveByNameOrNumber() {
        #expect(UserAccount.groupID("devs", group: Self.group) == 1000)
        #expect(UserAccount.groupID("4242", group: Self.group) == 4242)  // a gid needs no entry
        #expect(UserAccount.groupID("nosuchgroup", group: Self.group) == nil)
        #expect(UserAccount.groupID("4294967295", group: Self.group) == nil)
    }

    @Test func projectSocketGroupMustBeOneOfTheBrokersGroups() throws {
        let groupFile = try writeTemp(Self.group)
        defer { unlink(groupFile) }
        var config = BrokerConfig(environment: Environment(uid: 0, variables: [:]))
        let broker = try resolve("broker")  // groups 985, 1000, 999

        // Unset: the broker's group, i.e. the switched-to user's, or whatever files are created with.
        #expect(try config.resolvingProjectSocketGroup(account: broker, groupPath: groupFile).projectSocketGID == 985)
        #expect(try config.resolvingProjectSocketGroup(account: nil, groupPath: groupFile).projectSocketGID == nil)

        // After a switch the user's groups count, not the process's.
        config.projectSocketGroup = "docker"
        #expect(try config.resolvingProjectSocketGroup(account: broker, groupPath: groupFile, isOwnGroup: { _ in false })
            .projectSocketGID == 999)
        func refusal(_ account: UserAccount?) -> String {
            do {
                _ = try config.resolvingProjectSocketGroup(account: account, groupPath: groupFile, isOwnGroup: { _ in true })
                return "accepted"
            } catch {
                return error.message
            }
        }
        config.projectSocketGroup = "nogroup"
        #expect(refusal(broker).contains("project_socket_group nogroup (gid 65534) is not a group of user broker"))

        // Without a switch: the process's own groups.
        config.projectSocketGroup = "1000"
        #expect(try config.resolvingProjectSocketGroup(account: nil, groupPath: "/nonexistent/group", isOwnGroup: { $0 == 1000 })
            .projectSocketGID == 1000)
        #expect(throws: ConfigError.self) {
            try config.resolvingProjectSocketGroup(account: nil, groupPath: groupFile, isOwnGroup: { $0 == 999 })
        }
        config.projectSocketGroup = "nosuchgroup"
        #expect(refusal(nil).contains("project_socket_group nosuchgroup is not in \(groupFile)"))
    }

    @Test func readsTheRealFiles() throws {
        // nobody exists on every Debian system; the real files parse.
        let account = try UserAccount.resolve("nobody")
        #expect(account.uid == 65534)
    }
}
