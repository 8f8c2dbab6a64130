import CSeccomp

/// Hands out project revisions (SPEC §10): opaque strings, a per-start random nonce and a
/// counter. The nonce makes every revision after a restart differ from every earlier one;
/// the counter is shared by all projects, so a revision says nothing about values or about
/// how often a project changed. The nonce is drawn at server init, before the seccomp
/// filter (which does not allow getrandom).
struct RevisionClock {
    let nonce: String
    private var counter: UInt64 = 0

    init() {
        var bytes: (UInt64, UInt64) = (0, 0)
        let filled = withUnsafeMutableBytes(of: &bytes) { getrandom($0.baseAddress, $0.count, 0) }
        if filled != 16 {
            // No entropy source: the clocks still tell this start from every earlier one.
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            bytes = (UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec), Monotonic.nanoseconds() ^ UInt64(getpid()))
        }
        nonce = RevisionClock.hex(bytes.0) + RevisionClock.hex(bytes.1)
    }

    mutating func next() -> String {
        counter += 1
        return nonce + "-" + String(counter, radix: 16)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A `wait` parked on its connection: the reply is owed once the revision moves or the
/// deadline passes. Nothing else on the connection is read or answered meanwhile.
struct PendingWait {
    let project: String
    let deadline: UInt64
}

/// The parked waits by project, and the earliest deadline among them: the serving loop's
/// one timeout. No timer per connection and no wake-up while nothing changes.
struct WaitSet {
    private(set) var byProject: [String: [UInt64: Connection]] = [:]
    private var cachedEarliest: UInt64? = nil
    private var earliestKnown = true

    var isEmpty: Bool { byProject.isEmpty }

    mutating func insert(_ connection: Connection, _ wait: PendingWait) {
        byProject[wait.project, default: [:]][connection.token] = connection
        if earliestKnown { cachedEarliest = min(cachedEarliest ?? wait.deadline, wait.deadline) }
    }

    mutating func remove(_ connection: Connection, project: String) {
        guard byProject[project]?.removeValue(forKey: connection.token) != nil else { return }
        if byProject[project]?.isEmpty == true { byProject[project] = nil }
        earliestKnown = false
    }

    /// Removes and returns every wait of `project`.
    mutating func takeAll(of project: String) -> [Connection] {
        guard let waiting = byProject.removeValue(forKey: project) else { return [] }
        earliestKnown = false
        return Array(waiting.values)
    }

    mutating func earliestDeadline() -> UInt64? {
        if !earliestKnown {
            cachedEarliest = nil
            for connections in byProject.values {
                for connection in connections.values {
                    if let deadline = connection.waiting?.deadline { cachedEarliest = min(cachedEarliest ?? deadline, deadline) }
                }
            }
            earliestKnown = true
        }
        return cachedEarliest
    }

    /// Every waiting connection whose deadline has passed.
    func expired(now: UInt64) -> [Connection] {
        var due: [Connection] = []
        for connections in byProject.values {
            for connection in connections.values where (connection.waiting?.deadline ?? UInt64.max) <= now { due.append(connection) }
        }
        return due
    }

    var all: [Connection] {
        var every: [Connection] = []
        for connections in byProject.values { every.append(contentsOf: connections.values) }
        return every
    }
}
