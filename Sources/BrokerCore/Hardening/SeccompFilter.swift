import CSeccomp

/// Builds the seccomp filter from `SyscallAllowlist` with libseccomp and loads it.
public enum SeccompFilter {
    /// Builds the filter for `rules` and loads it for every thread of the process (TSYNC:
    /// the audit writer thread already exists). Anything no rule allows is killed (`.kill`)
    /// or logged and allowed (`.log`).
    ///
    /// Needs NO_NEW_PRIVS (or CAP_SYS_ADMIN) already in force, else the kernel says EACCES.
    public static func install(_ rules: [SyscallRule] = SyscallAllowlist.rules,
                               otherwise: BrokerConfig.SeccompAction) throws(SystemError) {
        let filter = try build(rules, otherwise: otherwise)
        defer { remo_seccomp_release(filter) }
        guard remo_seccomp_load(filter, 1) == 0 else { throw SystemError("seccomp_load (TSYNC)") }
    }

    /// The filter, not loaded (tests use this to check the table builds).
    static func build(_ rules: [SyscallRule], otherwise: BrokerConfig.SeccompAction) throws(SystemError) -> remo_seccomp_filter {
        let defaultAction = otherwise == .kill ? REMO_SECCOMP_KILL_PROCESS : REMO_SECCOMP_LOG
        guard let filter = remo_seccomp_create(defaultAction, 0) else { throw SystemError("seccomp_init") }
        do throws(SystemError) {
            for rule in rules {
                let number = remo_seccomp_syscall_number(rule.name)
                guard number >= 0 else { throw SystemError("seccomp_syscall_resolve_name", subject: rule.name) }
                let (action, errnoValue): (remo_seccomp_action, UInt16)
                switch rule.action {
                case .allow: (action, errnoValue) = (REMO_SECCOMP_ALLOW, 0)
                case .fail(let errno, _): (action, errnoValue) = (REMO_SECCOMP_ERRNO, UInt16(errno))
                }
                for conditions in rule.when.isEmpty ? [[]] : rule.when {
                    let arguments = conditions.map { condition in
                        remo_seccomp_argument(
                            index: UInt32(condition.index),
                            compare: condition.mask == nil ? REMO_SECCOMP_EQ : REMO_SECCOMP_MASKED_EQ,
                            mask: condition.mask ?? 0,
                            value: condition.value)
                    }
                    let added = arguments.withUnsafeBufferPointer {
                        remo_seccomp_add_rule(filter, number, action, errnoValue, UInt32($0.count), $0.baseAddress)
                    }
                    guard added == 0 else { throw SystemError("seccomp_rule_add", subject: rule.name) }
                }
            }
        } catch {
            remo_seccomp_release(filter)
            throw error
        }
        return filter
    }

    /// Whether every rule resolves and builds on this machine (no load).
    public static func validate(_ rules: [SyscallRule] = SyscallAllowlist.rules) throws(SystemError) {
        remo_seccomp_release(try build(rules, otherwise: .kill))
    }
}
