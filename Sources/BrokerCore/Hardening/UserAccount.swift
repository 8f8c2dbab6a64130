import CSeccomp

/// The account `serve` switches to (`user = "NAME"`, `"UID"`, `"NAME:GROUP"`, `"UID:GID"`).
///
/// Resolved by reading /etc/passwd and /etc/group directly: the release binary is static
/// and glibc's NSS (getpwnam, getgrnam) does not work in a static binary. So only local
/// accounts resolve by name; numeric ids need no entry at all when the group is given too.
public struct UserAccount: Equatable, Sendable {
    public let uid: UInt32
    public let gid: UInt32
    /// Supplementary groups: the primary group plus every /etc/group entry listing the user.
    public let groups: [UInt32]
    /// For messages: the spec as written, e.g. "nobody".
    public let label: String

    public init(uid: UInt32, gid: UInt32, groups: [UInt32], label: String) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.label = label
    }

    /// Reads /etc/passwd and /etc/group and resolves `spec`.
    public static func resolve(_ spec: String, passwdPath: String = "/etc/passwd",
                               groupPath: String = "/etc/group") throws(ConfigError) -> UserAccount {
        try resolve(spec, passwd: try database(passwdPath, for: "user \(spec)"),
                    group: try database(groupPath, for: "user \(spec)"))
    }

    /// The text of /etc/passwd or /etc/group; empty when the file does not exist (a machine
    /// without /etc/group still resolves numeric ids). `subject` starts the error message.
    static func database(_ path: String, for subject: String) throws(ConfigError) -> String {
        do {
            return String(decoding: try FileSystem.readFile(path, maxBytes: 16 << 20), as: UTF8.self)
        } catch {
            if error.errno == ENOENT { return "" }
            throw ConfigError("\(subject): cannot read \(path): \(error.errnoName)")
        }
    }

    /// A group given as a name from the /etc/group text `group`, or as a numeric gid (which
    /// needs no entry). Nil when it is neither.
    public static func groupID(_ spec: String, group: String) -> UInt32? {
        if let named = parseEntries(group, minimumFields: 4).first(where: { $0[0] == spec }), let gid = id(named[2]) {
            return gid
        }
        return id(spec)
    }

    /// Reads /etc/group and resolves `spec` (a group name or a gid); `key` names the setting
    /// in messages.
    public static func resolveGroup(_ spec: String, key: String, groupPath: String = "/etc/group") throws(ConfigError) -> UInt32 {
        // A gid needs no /etc/group (and no entry in it).
        if let gid = id(spec) { return gid }
        guard let gid = groupID(spec, group: try database(groupPath, for: "\(key) \(spec)")) else {
            throw ConfigError("\(key) \(spec) is not in \(groupPath) (only local groups resolve by name: "
                + "the binary is static, without NSS; give the gid instead)")
        }
        return gid
    }

    /// Resolves `spec` against the text of /etc/passwd and /etc/group.
    public static func resolve(_ spec: String, passwd: String, group: String) throws(ConfigError) -> UserAccount {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let userPart = parts.first, !userPart.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw ConfigError("user must be NAME, UID, NAME:GROUP or UID:GID, not \"\(spec)\"")
        }
        let users = parseEntries(passwd, minimumFields: 7)
        let groupEntries = parseEntries(group, minimumFields: 4)

        let entry = users.first { $0[0] == userPart } ?? Self.id(userPart).flatMap { uid in users.first { Self.id($0[2]) == uid } }
        let uid: UInt32
        var primary: UInt32?
        if let entry, let parsed = Self.id(entry[2]), let gid = Self.id(entry[3]) {
            uid = parsed
            primary = gid
        } else if let parsed = Self.id(userPart) {
            uid = parsed
        } else {
            throw ConfigError("user \(userPart) is not in /etc/passwd (only local accounts resolve by name: the binary is static, without NSS)")
        }
        if parts.count == 2 {
            let groupPart = parts[1]
            guard let gid = groupID(groupPart, group: group) else { throw ConfigError("group \(groupPart) is not in /etc/group") }
            primary = gid
        }
        guard let gid = primary else {
            throw ConfigError("uid \(uid) has no /etc/passwd entry, so its group is unknown: give it as \(uid):GID")
        }
        guard uid != 0 else {
            throw ConfigError("user \(spec) is root: switching to it would drop nothing (leave user unset to stay root)")
        }
        var groups = [gid]
        if let name = entry?[0] {
            for group in groupEntries where group[3].split(separator: ",").contains(where: { $0 == name }) {
                if let member = Self.id(group[2]), !groups.contains(member) { groups.append(member) }
            }
        }
        return UserAccount(uid: uid, gid: gid, groups: groups, label: spec)
    }

    /// Colon-separated lines with at least `minimumFields` fields; comments, blank lines and
    /// NIS compat lines (+/-) skipped.
    static func parseEntries(_ text: String, minimumFields: Int) -> [[String]] {
        text.split(separator: "\n").compactMap { line in
            guard let first = line.first, first != "#", first != "+", first != "-" else { return nil }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            return fields.count >= minimumFields ? fields : nil
        }
    }

    /// A decimal id in 0...4294967294 (4294967295 is the "no change" value of chown/setuid).
    static func id(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt32(text), value != UInt32.max
        else { return nil }
        return value
    }
}
