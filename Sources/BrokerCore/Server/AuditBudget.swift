/// SPEC §13: `peer.unexpected` and `request.invalid` are what a hostile peer can make the
/// broker write at will, so each socket gets at most `perSecond` of each kind a second. The
/// rest are counted and summarised by one `audit.suppressed` event per socket, kind and
/// second that had more. `fetch` never passes through here: it is never suppressed.
struct AuditBudget {
    static let perSecond = 10

    enum Kind: Hashable {
        case peerUnexpected
        case requestInvalid

        var eventName: String {
            switch self {
            case .peerUnexpected: return "peer.unexpected"
            case .requestInvalid: return "request.invalid"
            }
        }
    }

    struct Key: Hashable {
        let scope: AuditEvent.Scope
        let kind: Kind
    }

    private struct Tally {
        var recorded = 0
        var suppressed = 0
    }

    /// The wall-clock second (Unix time) the tallies belong to: the one an auditor sees in
    /// the events' `ts`, so "10 per second" holds for every second of the log.
    private var window: Int64 = 0
    private var tallies: [Key: Tally] = [:]

    /// Whether one more event of `key` may be written in the current second. Call
    /// `closeWindow` first so that a new second starts from zero.
    mutating func admit(_ key: Key) -> Bool {
        var tally = tallies[key] ?? Tally()
        defer { tallies[key] = tally }
        guard tally.recorded < Self.perSecond else {
            tally.suppressed += 1
            return false
        }
        tally.recorded += 1
        return true
    }

    /// When `second` is not the tallies' second: the summaries of the second that ended
    /// (one per key that suppressed something), and a fresh window. Empty otherwise.
    mutating func closeWindow(second: Int64) -> [AuditEvent] {
        guard second != window else { return [] }
        window = second
        guard !tallies.isEmpty else { return [] }
        var summaries: [AuditEvent] = []
        for (key, tally) in tallies where tally.suppressed > 0 {
            summaries.append(.auditSuppressed(scope: key.scope, suppressedEvent: key.kind.eventName, count: tally.suppressed))
        }
        tallies.removeAll(keepingCapacity: true)
        return summaries
    }
}
