@testable import BrokerCore
import Glibc
import Testing

/// The policy table itself. Nothing here loads a filter: that happens only in broker child
/// processes (Tests/IntegrationTests/HardeningTests.swift).
@Suite struct SyscallAllowlistTests {
    let rules = SyscallAllowlist.rules

    @Test func everyRuleResolvesAndBuildsWithLibseccomp() throws {
        try SeccompFilter.validate()
    }

    @Test func namesAreUniqueAndNothingForbiddenIsAllowed() {
        let names = rules.map(\.name)
        #expect(Set(names).count == names.count)
        let allowed = Set(rules.filter { $0.action == .allow }.map(\.name))
        #expect(allowed.isDisjoint(with: SyscallAllowlist.forbidden), "\(allowed.intersection(SyscallAllowlist.forbidden))")
        #expect(rules.allSatisfy { !$0.why.isEmpty })
        #expect(SyscallAllowlist.allowedCount == allowed.count)
    }

    @Test func argumentFiltersAreInPlace() throws {
        func rule(_ name: String) throws -> SyscallRule { try #require(rules.first { $0.name == name }) }
        // socket: AF_UNIX only, in every alternative.
        let socket = try rule("socket")
        #expect(!socket.when.isEmpty)
        #expect(socket.when.allSatisfy { $0.contains(.equals(0, UInt64(AF_UNIX), "domain == AF_UNIX")) })
        // clone: CLONE_THREAD required, namespaces excluded.
        let clone = try rule("clone")
        #expect(clone.when.count == 1 && clone.when[0].count == 1)
        let condition = clone.when[0][0]
        #expect(condition.index == 0 && condition.value == SyscallAllowlist.Linux.CLONE_THREAD)
        #expect(condition.mask.map { $0 & SyscallAllowlist.Linux.CLONE_NEWUSER != 0 } == true)
        // clone3 is answered with ENOSYS, never run.
        #expect(try rule("clone3").action == .fail(errno: ENOSYS, name: "ENOSYS"))
        // prctl: only the read-only query status needs.
        #expect(try rule("prctl").when == [[.equals(0, 3, "option == PR_GET_DUMPABLE")]])
        // Memory is never made executable.
        for name in ["mmap", "mprotect"] {
            #expect(try rule(name).when == [[.masked(2, UInt64(PROT_EXEC), 0, "prot without PROT_EXEC")]])
        }
    }

    @Test func docsEmbedTheGeneratedTable() throws {
        // #filePath = <root>/Tests/BrokerCoreTests/SyscallAllowlistTests.swift
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        let path = components.joined(separator: "/") + "/docs/security.md"
        let text = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        #expect(text.contains(HardeningReport.docsSection),
                "docs/security.md is out of date: run ci/update-security-doc.sh .build/debug/remo-broker")
    }
}
