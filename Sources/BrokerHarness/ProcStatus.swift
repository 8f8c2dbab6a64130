import BrokerCore
import Glibc

/// /proc readings of a running process.
public enum ProcReader {
    public static func rssKiB(_ pid: pid_t) -> Int? { sample(pid)?.rssKiB }

    public static func openFDs(_ pid: pid_t) -> Int? {
        (try? FileSystem.listDirectory("/proc/\(pid)/fd"))?.count
    }

    /// RSS, locked memory, threads and open descriptors at one moment (nil once it is gone).
    public static func sample(_ pid: pid_t) -> ProcSample? {
        let status = KernelStatus.procStatus(pid: String(pid))
        func kib(_ field: String) -> Int? { KernelStatus.kib(field, in: status) }
        guard let rss = kib("VmRSS"), let fds = openFDs(pid) else { return nil }
        return ProcSample(rssKiB: rss, anonKiB: kib("RssAnon") ?? 0, lockedKiB: kib("VmLck") ?? 0,
                          threads: kib("Threads") ?? 0, fds: fds)
    }
}

public struct ProcSample: Sendable {
    public let rssKiB: Int
    /// Anonymous (private) part of the RSS; the rest is mostly the binary's own text pages.
    public let anonKiB: Int
    public let lockedKiB: Int
    public let threads: Int
    public let fds: Int
}

/// A least-squares slope, for "is RSS flat?": KiB per minute over (seconds, KiB) points.
public enum Trend {
    public static func slopePerMinute(_ points: [(seconds: Double, value: Double)]) -> Double {
        guard points.count >= 2 else { return 0 }
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.seconds } / n
        let meanY = points.reduce(0) { $0 + $1.value } / n
        var numerator = 0.0, denominator = 0.0
        for point in points {
            numerator += (point.seconds - meanX) * (point.value - meanY)
            denominator += (point.seconds - meanX) * (point.seconds - meanX)
        }
        return denominator == 0 ? 0 : numerator / denominator * 60
    }
}
