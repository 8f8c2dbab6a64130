/// The newest `capacity` encoded lines, oldest first: where events wait while the file
/// cannot be written (SPEC §6 "keeps the last 1000 events in memory"). Storage grows only
/// as lines arrive, so a healthy log costs nothing here.
///
/// When full, the line given up is the oldest of the owner holding the most lines (SPEC
/// §13): a project flooding the log during an outage evicts its own events, not another
/// project's fetches. Only when nothing held has an owner does the oldest line go.
/// Eviction is a linear scan and shift of at most `capacity` entries (1000 by default).
struct AuditRing {
    let capacity: Int
    private var lines: [[UInt8]] = []
    private var owners: [String?] = []
    private var tally = AuditOwners()

    init(capacity: Int) {
        precondition(capacity > 0, "AuditRing capacity must be positive")
        self.capacity = capacity
    }

    var count: Int { lines.count }
    var isEmpty: Bool { lines.isEmpty }

    /// Appends `line`; returns true when an older line had to be evicted to make room.
    @discardableResult
    mutating func append(_ line: [UInt8], owner: String? = nil) -> Bool {
        var evicted = false
        if lines.count >= capacity {
            let victim = tally.heaviest.flatMap { AuditOwners.oldest(of: $0.owner, in: owners) } ?? 0
            tally.remove(owners[victim])
            tally.noteDropped(owners[victim])
            lines.remove(at: victim)
            owners.remove(at: victim)
            evicted = true
        }
        lines.append(line)
        owners.append(owner)
        tally.add(owner)
        return evicted
    }

    /// Appends every line in order (`owners` parallel to `lines`); returns how many older
    /// lines were evicted.
    mutating func append(contentsOf newLines: ArraySlice<[UInt8]>, owners newOwners: ArraySlice<String?>) -> Int {
        var evicted = 0
        for (line, owner) in zip(newLines, newOwners) where append(line, owner: owner) { evicted += 1 }
        return evicted
    }

    /// Removes and returns every line with its owner, oldest first, releasing the storage.
    mutating func removeAll() -> (lines: [[UInt8]], owners: [String?]) {
        defer {
            lines = []
            owners = []
            tally.removeAll()
        }
        return (lines, owners)
    }
}
