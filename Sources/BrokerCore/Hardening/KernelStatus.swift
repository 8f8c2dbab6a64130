import CSeccomp

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

    /// A `... kB` field of `procStatus` (e.g. "VmLck": "4096 kB") as a number of KiB.
    public static func kib(_ field: String, in status: [String: String]) -> Int? {
        status[field].flatMap { Int($0.split(separator: " ").first ?? "") }
    }

    /// What one thread holds. Credentials, NO_NEW_PRIVS and seccomp are per thread in Linux,
    /// so the process is only as hardened as its least hardened thread.
    public struct ThreadState: Equatable, Sendable {
        public var inheritable: UInt64?
        public var permitted: UInt64?
        public var effective: UInt64?
        public var bounding: UInt64?
        public var ambient: UInt64?
        public var noNewPrivs: Bool
        /// 0 off, 1 strict, 2 filter.
        public var seccompMode: Int?

        public init(_ fields: [String: String]) {
            func mask(_ key: String) -> UInt64? { fields[key].flatMap { UInt64($0, radix: 16) } }
            inheritable = mask("CapInh")
            permitted = mask("CapPrm")
            effective = mask("CapEff")
            bounding = mask("CapBnd")
            ambient = mask("CapAmb")
            noNewPrivs = fields["NoNewPrivs"] == "1"
            seccompMode = fields["Seccomp"].flatMap { Int($0) }
        }

        /// Effective, permitted, inheritable and ambient all empty (bounding not included).
        public var holdsNoCapabilities: Bool {
            [inheritable, permitted, effective, ambient].allSatisfy { $0 == 0 }
        }

        /// Every capability set empty, the bounding set included.
        public var allCapabilitiesDropped: Bool { holdsNoCapabilities && bounding == 0 }
    }

    /// One entry per thread of this process (from /proc/self/task/*/status); the main
    /// thread's alone if the task list cannot be read.
    public static func threads(pid: String = "self") -> [ThreadState] {
        let tasks = (try? FileSystem.listDirectory("/proc/\(pid)/task")) ?? []
        let states = tasks.map { procStatus(pid: "\(pid)/task/\($0)") }.filter { !$0.isEmpty }.map(ThreadState.init)
        return states.isEmpty ? [ThreadState(procStatus(pid: pid))] : states
    }

    public static func hardening() -> HardeningStatus {
        let threads = threads()
        let lockedKiB = kib("VmLck", in: procStatus()) ?? 0
        return HardeningStatus(
            memoryLocked: lockedKiB > 0,
            seccomp: threads.allSatisfy { $0.seccompMode == 2 },
            capabilitiesDropped: threads.allSatisfy { $0.allCapabilitiesDropped },
            noNewPrivs: threads.allSatisfy { $0.noNewPrivs },
            dumpable: remo_get_dumpable() != 0)
    }
}
