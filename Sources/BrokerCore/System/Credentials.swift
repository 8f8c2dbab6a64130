import CSeccomp

/// The process's own ids.
public enum Credentials {
    /// True when `gid` is the effective group or one of the supplementary groups, i.e. a
    /// group a file can be chown'ed to without any capability.
    public static func isOwnGroup(_ gid: UInt32) -> Bool {
        if getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups[0..<Int(filled)].contains(gid)
    }
}
