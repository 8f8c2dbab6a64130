/// How many held audit lines belong to each project (or socket), so that an overflow takes
/// room from the owner holding the most (SPEC §13: the events of the project causing the
/// overflow are dropped first). Broker-wide lines (no owner) are never the one chosen.
struct AuditOwners {
    private var counts: [String: Int] = [:]
    /// Lines of each owner refused or given up so far: between owners holding the same
    /// number of lines, the one already overflowing is the one causing the overflow.
    private var dropped: [String: Int] = [:]

    mutating func add(_ owner: String?) {
        guard let owner else { return }
        counts[owner, default: 0] += 1
    }

    mutating func remove(_ owner: String?) {
        guard let owner, let count = counts[owner] else { return }
        counts[owner] = count > 1 ? count - 1 : nil
    }

    mutating func removeAll() {
        counts.removeAll()
        dropped.removeAll()
    }

    /// One of `owner`'s lines was refused or evicted.
    mutating func noteDropped(_ owner: String?) {
        guard let owner else { return }
        dropped[owner, default: 0] += 1
    }

    func count(of owner: String?) -> Int {
        guard let owner else { return 0 }
        return counts[owner] ?? 0
    }

    /// The owner holding the most lines (nil when only broker-wide lines are held); on a tie
    /// the one with more lines dropped so far, then the smaller name, so the choice never
    /// depends on hash order.
    var heaviest: (owner: String, count: Int)? {
        var best: (owner: String, count: Int, dropped: Int)?
        for (owner, count) in counts {
            let ownDropped = dropped[owner] ?? 0
            guard let current = best else { best = (owner, count, ownDropped); continue }
            if (count, ownDropped) > (current.count, current.dropped)
                || ((count, ownDropped) == (current.count, current.dropped) && owner < current.owner) {
                best = (owner, count, ownDropped)
            }
        }
        return best.map { ($0.owner, $0.count) }
    }

    /// The index of the first (oldest) of `owners` that is `owner`.
    static func oldest(of owner: String, in owners: [String?]) -> Int? {
        owners.firstIndex { $0 == owner }
    }
}
