/// Latency samples in nanoseconds and their percentiles. The harnesses take a fixed number
/// of samples after a warm-up, so keeping every sample and sorting once is exact and cheap
/// (no bucketing error, unlike an HdrHistogram).
public struct LatencySamples {
    public private(set) var nanoseconds: [UInt64] = []

    public init(capacity: Int = 0) { nanoseconds.reserveCapacity(capacity) }

    public mutating func record(_ value: UInt64) { nanoseconds.append(value) }
    public mutating func append(contentsOf other: LatencySamples) { nanoseconds += other.nanoseconds }

    public var count: Int { nanoseconds.count }

    public func summary() -> LatencySummary { LatencySummary(sorted: nanoseconds.sorted()) }
}

/// min/p50/p90/p99/p99.9/max of a sample set, in nanoseconds (nearest-rank percentiles).
public struct LatencySummary: Sendable {
    public let count: Int
    public let min: UInt64
    public let p50: UInt64
    public let p90: UInt64
    public let p99: UInt64
    public let p999: UInt64
    public let max: UInt64

    public init(sorted: [UInt64]) {
        count = sorted.count
        func rank(_ fraction: Double) -> UInt64 {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        min = sorted.first ?? 0
        p50 = rank(0.50)
        p90 = rank(0.90)
        p99 = rank(0.99)
        p999 = rank(0.999)
        max = sorted.last ?? 0
    }

    /// (label, nanoseconds) pairs in report order.
    public var points: [(String, UInt64)] {
        [("min", min), ("p50", p50), ("p90", p90), ("p99", p99), ("p99.9", p999), ("max", max)]
    }

    /// "min 8.1 / p50 9.0 / ... µs".
    public var microsecondsText: String {
        points.map { "\($0.0) \(Format.micros($0.1))" }.joined(separator: " / ") + " µs"
    }
}

/// Number formatting for reports (no Foundation).
public enum Format {
    /// `value` with `digits` decimals.
    public static func fixed(_ value: Double, _ digits: Int = 1) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled) - whole * Int(scale)
        let sign = value < 0 && scaled > 0 ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        let fractionText = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }

    public static func micros(_ nanoseconds: UInt64) -> String { fixed(Double(nanoseconds) / 1000, 1) }
    public static func millis(_ nanoseconds: UInt64) -> String { fixed(Double(nanoseconds) / 1e6, 2) }
    public static func mebibytes(fromKiB kib: Int) -> String { fixed(Double(kib) / 1024, 2) }
}
