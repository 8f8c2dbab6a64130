import CSeccomp

/// RLIMIT_NOFILE: how many descriptors the process may hold.
public enum DescriptorLimit {
    /// Raises the soft limit to the hard limit (allowed without privileges) and returns
    /// the limit now in force.
    public static func raiseToHard() throws(SystemError) -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw SystemError("getrlimit(RLIMIT_NOFILE)")
        }
        if limit.rlim_cur != limit.rlim_max {
            var raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
            guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 else {
                throw SystemError("setrlimit(RLIMIT_NOFILE)")
            }
            limit = raised
        }
        // RLIM_INFINITY does not happen for NOFILE (the kernel caps it at nr_open), but an
        // Int must hold the answer either way.
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }
}
