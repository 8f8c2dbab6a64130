/// How many held audit lines belong to each project (or socket), so that an overflow takes
/// room from the owner holding the most (SPEC §13: the events of the project causing the
/// overflow are dropped first). Broker-wide lines (no owner) are never the one chosen.
struct AuditOwners {
    private var counts: [String: Int] = [:]

    mutating func add(_ owner: String?) {
        guard let owner else { return }
        counts[owner, default: 0] += 1
    }

    mutating func remove(_ owner: String?) {
        guard let owner, let count = counts[owner] else { return }
        counts[owner] = count > 1 ? count - 1 : nil
    }

    mutating func removeAll() { counts.removeAll() }

    func count(of owner: String?) -> Int {
        guard let owner else { return 0 }
        return counts[owner] ?? 0
    }

    /// The owner holding the most lines (nil when only broker-wide lines are held).
    var heaviest: (owner: String, count: Int)? {
        var best: (owner: String, count: Int)?
        for (owner, count) in counts where count > (best?.count ?? 0) { best = (owner, count) }
        return best
    }

    /// The index of the first (oldest) of `owners` that is `owner`.
    static func oldest(of owner: String, in owners: [String?]) -> Int? {
        owners.firstIndex { $0 == owner }
    }
}
