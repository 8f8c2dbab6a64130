/// Per-project rate limit for `get`: `burst` tokens, refilled at `ratePerSecond`.
public struct TokenBucket {
    public let ratePerSecond: Int
    public let burst: Int
    private var tokens: Double
    private var updatedAt: UInt64

    public init(ratePerSecond: Int, burst: Int, now: UInt64) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.tokens = Double(burst)
        self.updatedAt = now
    }

    /// Takes one token. nil when allowed; otherwise whole seconds until one is available
    /// (at least 1), for `retry_after_seconds`.
    public mutating func take(now: UInt64) -> Int? {
        if now > updatedAt {
            let elapsed = Double(now - updatedAt) / Double(Monotonic.nanosecondsPerSecond)
            tokens = min(Double(burst), tokens + elapsed * Double(ratePerSecond))
            updatedAt = now
        }
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let wait = (1 - tokens) / Double(ratePerSecond)
        return max(1, Int(wait.rounded(.up)))
    }
}
