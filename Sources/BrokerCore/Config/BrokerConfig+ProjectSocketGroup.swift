import CSeccomp

extension BrokerConfig {
    /// This config with `projectSocketGID` set: the last step of building it, taken by
    /// `serve` once it knows which user it will run as (SPEC §7 `project_socket_group`).
    ///
    /// The group must be one the broker can `chown` to without a capability, the rule
    /// `register` applies to `socket_gid`: its own group or a supplementary one. "The
    /// broker's groups" are those it serves with: `account`'s when it switches to `user`
    /// (its projects are restored before the switch, as root), else the process's own (under
    /// systemd, `Group=` plus `SupplementaryGroups=`). With no `project_socket_group`, the
    /// default is the broker's group, so after a switch restored sockets get the new user's
    /// group rather than root's.
    ///
    /// - Parameters:
    ///   - account: the user `serve` switches to, or nil when it keeps its own ids.
    ///   - isOwnGroup: the membership test without a switch (the process's groups).
    public func resolvingProjectSocketGroup(account: UserAccount?, groupPath: String = "/etc/group",
                                            isOwnGroup: (UInt32) -> Bool = Credentials.isOwnGroup) throws(ConfigError) -> BrokerConfig {
        var resolved = self
        guard let spec = projectSocketGroup else {
            resolved.projectSocketGID = account?.gid
            return resolved
        }
        let gid = try UserAccount.resolveGroup(spec, key: "project_socket_group", groupPath: groupPath)
        let member: Bool
        let who: String
        if let account {
            member = account.groups.contains(gid)
            who = "user \(account.label) (after the switch)"
        } else {
            member = isOwnGroup(gid)
            who = "the broker (uid \(geteuid()), gid \(getegid()))"
        }
        guard member else {
            throw ConfigError("project_socket_group \(spec) (gid \(gid)) is not a group of \(who): it must be the broker's "
                + "own group or one of its supplementary groups (SupplementaryGroups= in the unit, or the user's entry in /etc/group)")
        }
        resolved.projectSocketGID = gid
        return resolved
    }
}
