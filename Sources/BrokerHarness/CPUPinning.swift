import BrokerCore
import CSeccomp
import Glibc

/// CPU affinity for latency runs: client and server on one CPU (the default: no cross-CPU
/// wake-ups, the least noisy figure) or on two. Applied per thread, so a running broker is
/// pinned through every task in /proc/<pid>/task.
public enum CPUPinning {
    /// The CPUs this process may run on (a container's cpuset or offline CPUs make this differ
    /// from 0..<online count), read once, before anything pins the process: `allCPUs` must
    /// undo a pinning. sched_getaffinity does not import; the raw syscall reaches it.
    public static let allowedCPUs: [Int] = {
        var set = cpu_set_t()
        let result = withUnsafeMutablePointer(to: &set) { pointer in
            remo_raw_syscall(Int(remo_seccomp_syscall_number("sched_getaffinity")), 0, MemoryLayout<cpu_set_t>.size,
                             Int(bitPattern: UnsafeMutableRawPointer(pointer)), 0, 0, 0)
        }
        guard result > 0 else { return [0] }
        var cpus: [Int] = []
        withUnsafeBytes(of: &set) { raw in
            for cpu in 0..<(min(result, raw.count) * 8) where raw[cpu / 8] & UInt8(1 << (cpu % 8)) != 0 { cpus.append(cpu) }
        }
        return cpus.isEmpty ? [0] : cpus
    }()

    /// Pins thread `tid` (0: the calling thread) to `cpus`.
    public static func pin(thread tid: pid_t = 0, to cpus: [Int]) throws(SystemError) {
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { raw in
            for cpu in cpus where cpu >= 0 && cpu / 8 < raw.count { raw[cpu / 8] |= UInt8(1 << (cpu % 8)) }
        }
        // sched_setaffinity does not import into Swift; the shim's raw syscall reaches it.
        let result = withUnsafeMutablePointer(to: &set) { pointer in
            remo_raw_syscall(Int(remo_seccomp_syscall_number("sched_setaffinity")), Int(tid), MemoryLayout<cpu_set_t>.size,
                             Int(bitPattern: UnsafeMutableRawPointer(pointer)), 0, 0, 0)
        }
        guard result == 0 else {
            throw SystemError("sched_setaffinity", subject: "thread \(tid)")
        }
    }

    /// Pins every thread of process `pid` (threads it creates later inherit the mask).
    public static func pin(process pid: pid_t, to cpus: [Int]) throws(SystemError) {
        let tasks = try FileSystem.listDirectory("/proc/\(pid)/task")
        for task in tasks {
            guard let tid = pid_t(task) else { continue }
            try pin(thread: tid, to: cpus)
        }
    }

    public static var allCPUs: [Int] { allowedCPUs }
}
