import CSeccomp

/// CLOCK_MONOTONIC in nanoseconds: for timeouts, TTLs, rate limits and latencies.
public enum Monotonic {
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    public static let nanosecondsPerSecond: UInt64 = 1_000_000_000
}
