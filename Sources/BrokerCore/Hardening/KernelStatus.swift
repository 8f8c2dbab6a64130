import CSeccomp
import Glibc

/// Reads back from the kernel what protection is in force for this process.
public enum KernelStatus {
    /// `/proc/self/status` fields as text, e.g. ["Seccomp": "2", "CapEff": "0000000000000000"].
    public static func procStatus(pid: String = "self") -> [String: String] {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/status", maxBytes: 1 << 20) else { return [:] }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            fields[String(line[..<colon])] = String(value)
        }
        return fields
    }

    public static func hardening() -> HardeningStatus {
        let fields = procStatus()
        let capabilitySets = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        let allCapabilitiesZero = capabilitySets.allSatisfy { fields[$0].map { $0.allSatisfy { $0 == "0" } } ?? false }
        let lockedKiB = fields["VmLck"].flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        return HardeningStatus(
            memoryLocked: lockedKiB > 0,
            seccomp: fields["Seccomp"] == "2",
            capabilitiesDropped: allCapabilitiesZero,
            noNewPrivs: fields["NoNewPrivs"] == "1",
            dumpable: remo_get_dumpable() != 0)
    }
}
