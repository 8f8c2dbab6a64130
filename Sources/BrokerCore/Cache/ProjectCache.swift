/// Per-project cache of which store generation a secret name resolved to, and when.
///
/// Bounded (`maxEntries`, oldest entry evicted first) with a TTL. Values are never cached
/// here: they stay in the arena and are read from the store on every `get`; the cache
/// decides the `ttl_seconds` a reply reports and is what `status` counts.
public struct ProjectCache {
    public struct Limits: Equatable, Sendable {
        public var ttlSeconds: Int
        public var maxEntries: Int

        public init(ttlSeconds: Int, maxEntries: Int) {
            self.ttlSeconds = ttlSeconds
            self.maxEntries = maxEntries
        }

        /// Each limit no higher than `ceiling`'s: a pinned manifest keeps obeying broker-wide
        /// defaults an admin lowered after approving it.
        public func capped(by ceiling: Limits) -> Limits {
            Limits(ttlSeconds: min(ttlSeconds, ceiling.ttlSeconds), maxEntries: min(maxEntries, ceiling.maxEntries))
        }
    }

    private struct Entry {
        let generation: UInt64
        let expiresAt: UInt64
    }

    public let limits: Limits
    private var entries: [String: Entry] = [:]
    /// Names oldest first; kept in step with `entries`.
    private var order: [String] = []

    public init(limits: Limits) {
        self.limits = limits
    }

    public var count: Int { entries.count }

    /// Records a resolution of `name` to `generation` at `now` and returns the entry's
    /// remaining life in whole seconds (rounded up).
    public mutating func resolve(_ name: String, generation: UInt64, now: UInt64) -> Int {
        if let entry = entries[name], entry.generation == generation, entry.expiresAt > now {
            return Int((entry.expiresAt - now + Monotonic.nanosecondsPerSecond - 1) / Monotonic.nanosecondsPerSecond)
        }
        if entries.removeValue(forKey: name) != nil {
            order.removeAll { $0 == name }
        }
        while entries.count >= limits.maxEntries, !order.isEmpty {
            entries.removeValue(forKey: order.removeFirst())
        }
        let ttl = UInt64(limits.ttlSeconds) * Monotonic.nanosecondsPerSecond
        entries[name] = Entry(generation: generation, expiresAt: now + ttl)
        order.append(name)
        return limits.ttlSeconds
    }

    public mutating func flush() {
        entries.removeAll()
        order.removeAll()
    }
}
