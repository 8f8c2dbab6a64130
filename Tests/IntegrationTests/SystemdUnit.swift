import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The shipped unit (packaging/systemd/remo-broker.service) as the tests read it, and
/// systemd's own view of it through `systemd-analyze`. A missing tool fails the test: the
/// unit's checks are release gates and must never pass by being skipped.
struct SystemdUnit {
    static let repository: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/IntegrationTests/<this file>
        return components.joined(separator: "/")
    }()
    static let path = repository + "/packaging/systemd/remo-broker.service"

    let text: String

    init() throws {
        text = String(decoding: try FileSystem.readFile(Self.path), as: UTF8.self)
    }

    /// The values of every `Key=` line, in order (comments skipped).
    func values(_ key: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(key + "=") else { return nil }
            return String(line.dropFirst(key.count + 1))
        }
    }

    func value(_ key: String) -> String? { values(key).last }

    /// The unit with `/usr/bin/remo-broker` replaced by `binary`, written into `directory`
    /// (verify insists that ExecStart= exists and is executable).
    func copy(into directory: TempDirectory, binary: String) throws -> String {
        try directory.write("remo-broker.service", text.replacing("/usr/bin/remo-broker", with: binary))
    }

    /// The syscalls the unit's filter lets through, as systemd resolves it: the first
    /// `SystemCallFilter=` is an allowlist, later `~` lines take syscalls out of it.
    func allowedSyscalls() throws -> Set<String> {
        let groups = try Self.syscallGroups()
        var allowed = Set<String>()
        for (index, line) in values("SystemCallFilter").enumerated() {
            let denying = line.hasPrefix("~")
            #expect(denying == (index > 0), "only the first SystemCallFilter= may be an allowlist: \(line)")
            var names = Set<String>()
            for item in line.drop(while: { $0 == "~" }).split(separator: " ") {
                names.formUnion(Self.resolve(String(item), groups))
            }
            if denying { allowed.subtract(names) } else { allowed.formUnion(names) }
        }
        return allowed
    }

    /// `@group` → its syscalls (nested groups expanded); a plain name → itself.
    static func resolve(_ item: String, _ groups: [String: [String]]) -> Set<String> {
        guard item.hasPrefix("@") else { return [item] }
        var out = Set<String>()
        for member in groups[item] ?? [] { out.formUnion(resolve(member, groups)) }
        return out
    }

    /// Every group `systemd-analyze syscall-filter` knows, with its direct members.
    static func syscallGroups() throws -> [String: [String]] {
        let listing = try tool("systemd-analyze", ["syscall-filter", "--no-pager"])
        var groups: [String: [String]] = [:]
        var current: String?
        for line in listing.split(separator: "\n") {
            if line.hasPrefix("@") {
                current = String(line)
                groups[String(line)] = []
            } else if let current, line.hasPrefix("    "), !line.contains("#") {
                groups[current, default: []].append(String(line.drop { $0 == " " }))
            }
        }
        return groups
    }

    /// Runs a tool found on PATH (or in /usr/bin, /usr/sbin, /sbin) and returns its stdout;
    /// a missing tool or a non-zero exit throws.
    @discardableResult
    static func tool(_ name: String, _ arguments: [String], allowFailure: Bool = false) throws -> String {
        guard let path = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map({ $0 + "/" + name }).first(where: { access($0, X_OK) == 0 }) else {
            throw HarnessError("\(name) is not installed: the packaging gates need it (make deps-packaging)")
        }
        let result = try CommandRunner.run(path, arguments, timeoutSeconds: 120)
        guard allowFailure || result.exitCode == 0 else { throw HarnessError("\(name) \(arguments.joined(separator: " ")): \(result)") }
        return result.stdoutText + (allowFailure ? result.stderrText : "")
    }

    /// `8M` → 8388608 (systemd's binary K/M/G suffixes).
    static func bytes(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }
}
