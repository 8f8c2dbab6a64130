/// At most one stderr line per interval for a condition a peer can trigger at will (running
/// the broker out of descriptors): the journal keeps a count, not a flood.
struct LogThrottle {
    let intervalNanos: UInt64
    private var lastLine: UInt64?
    private var unreported = 0

    init(intervalNanos: UInt64 = Monotonic.nanosecondsPerSecond) {
        self.intervalNanos = intervalNanos
    }

    /// Counts one occurrence; returns how many occurred since the last line (this one
    /// included) when a line is due now, nil when it is not.
    mutating func occurrence(now: UInt64) -> Int? {
        unreported += 1
        if let lastLine, now &- lastLine < intervalNanos { return nil }
        lastLine = now
        defer { unreported = 0 }
        return unreported
    }
}
