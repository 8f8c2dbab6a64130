/// The newest `capacity` encoded lines, oldest first: where events wait while the file
/// cannot be written (SPEC §6 "keeps the last 1000 events in memory"). Storage grows only
/// as lines arrive, so a healthy log costs nothing here.
struct AuditRing {
    let capacity: Int
    private var storage: [[UInt8]] = []
    /// Index of the oldest line once `storage` is full (it then wraps around).
    private var head = 0

    init(capacity: Int) {
        precondition(capacity > 0, "AuditRing capacity must be positive")
        self.capacity = capacity
    }

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }

    /// Appends `line`; returns true when the oldest line had to be evicted to make room.
    @discardableResult
    mutating func append(_ line: [UInt8]) -> Bool {
        if storage.count < capacity {
            storage.append(line)
            return false
        }
        storage[head] = line
        head = (head + 1) % capacity
        return true
    }

    /// Appends every line in order; returns how many older lines were evicted.
    mutating func append<Lines: Sequence>(contentsOf lines: Lines) -> Int where Lines.Element == [UInt8] {
        var evicted = 0
        for line in lines where append(line) { evicted += 1 }
        return evicted
    }

    /// Removes and returns every line, oldest first, releasing the storage.
    mutating func removeAll() -> [[UInt8]] {
        let ordered = Array(storage[head...] + storage[..<head])
        storage = []
        head = 0
        return ordered
    }
}
