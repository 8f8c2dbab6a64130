import CSeccomp

public enum BrokerVersion {
    public static let version = "0.1.0"
    public static let protocolVersion = 2

    /// The libseccomp version linked into this binary, e.g. "2.5.4".
    public static var libseccomp: String {
        var major: UInt32 = 0, minor: UInt32 = 0, micro: UInt32 = 0
        remo_seccomp_version(&major, &minor, &micro)
        return "\(major).\(minor).\(micro)"
    }

    /// One line for `--version`.
    public static var summary: String {
        "remo-broker \(version) (protocol \(protocolVersion), libseccomp \(libseccomp))"
    }
}
