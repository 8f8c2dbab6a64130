/// One audit record (SPEC §6). Cases and labels mirror the event table; the JSON field
/// names are fixed in `AuditEvent+Encoding.swift`.
///
/// No case carries a secret value, by construction: the only client-chosen text is the
/// secret *name* of `fetch`, which the encoder replaces with `<invalid>` unless it is a
/// well-formed secret name (so a value pasted into a `get` request never reaches the log).
public enum AuditEvent: Equatable, Sendable {
    /// One per `get`, and one per credential systemd loads for a unit, whatever the result.
    case fetch(requester: Requester, secretName: String, decision: Decision, outcome: Outcome,
               reason: DenyReason?, peer: PeerCredentials, latencyMicros: Int)
    case secretsPushed(secretCount: Int, peerUID: UInt32)
    case secretsCleared(previousCount: Int, peerUID: UInt32)
    case projectRegistered(project: String, allowlistSize: Int)
    case projectUnregistered(project: String, allowlistSize: Int)
    case projectReloaded(project: String, allowlistSize: Int, added: [String], removed: [String])
    /// The manifest file no longer matches what an admin approved; `fileSHA256` nil when it is
    /// missing or unusable. Once per new file digest.
    case manifestChanged(project: String, pinnedSHA256: String, fileSHA256: String?)
    /// A project from a registry without pins (0.1.0) was pinned from its file at start.
    case manifestPinned(project: String, pinnedSHA256: String, fileSHA256: String)
    case manifestInvalid(project: String, error: String)
    /// `scope`: the project whose socket refused the peer, or `socket("credentials")`.
    case peerUnexpected(scope: Scope, peer: PeerCredentials)
    /// `socket` is `admin` or the project's name; `code` the wire error code sent back.
    case requestInvalid(socket: String, code: String)
    case brokerStarted(version: String, pid: Int32, hardening: HardeningStatus)
    case brokerStopping(version: String, pid: Int32, reason: String)
    /// Written by the log itself around a stretch of lost events. `droppedEvents` counts
    /// every event lost since the log was opened, as of that point in the file (the counter
    /// `status` reports): before the loss for `auditDegraded`, after it for `auditRecovered`,
    /// so the difference between a pair is exactly how many events are missing between them.
    case auditDegraded(droppedEvents: Int)
    case auditRecovered(droppedEvents: Int)
    /// `count` events of kind `suppressedEvent` were not written in one second because the
    /// socket was over its budget (SPEC §13, `AuditBudget`).
    case auditSuppressed(scope: Scope, suppressedEvent: String, count: Int)

    /// Where a `peer.unexpected` happened and whose budget an `audit.suppressed` summarises:
    /// written as `project` (a project socket's `peer.unexpected`) or `socket` (`admin`, a
    /// project's name for `request.invalid`, `credentials`).
    public enum Scope: Hashable, Sendable {
        case project(String)
        case socket(String)

        var name: String {
            switch self {
            case .project(let name), .socket(let name): return name
            }
        }
    }

    /// Whom a `fetch` served: a project (on its socket) or a systemd unit (on the
    /// credentials socket), written as `project` or `unit`.
    public enum Requester: Equatable, Sendable {
        case project(String)
        case unit(String)

        var name: String {
            switch self {
            case .project(let name), .unit(let name): return name
            }
        }
    }

    /// Whether the allowlist permitted the fetch. `not_found` is `allow`; `rate_limited` is `deny`.
    public enum Decision: String, Sendable {
        case allow
        case deny
    }

    public enum Outcome: String, Sendable {
        case ok
        case denied
        case notFound = "not_found"
        case rateLimited = "rate_limited"

        /// The decision SPEC §6 pairs with this outcome.
        public var decision: Decision {
            switch self {
            case .ok, .notFound: return .allow
            case .denied, .rateLimited: return .deny
            }
        }

        /// The `reason` SPEC §6 pairs with this outcome (nil for allowed fetches).
        public var denyReason: DenyReason? {
            switch self {
            case .ok, .notFound: return nil
            case .denied: return .notInAllowlist
            case .rateLimited: return .rateLimited
            }
        }
    }

    public enum DenyReason: String, Sendable {
        case notInAllowlist = "not_in_allowlist"
        case rateLimited = "rate_limited"
    }

    /// The `event` field.
    public var name: String {
        switch self {
        case .fetch: return "fetch"
        case .secretsPushed: return "secrets.pushed"
        case .secretsCleared: return "secrets.cleared"
        case .projectRegistered: return "project.registered"
        case .projectUnregistered: return "project.unregistered"
        case .projectReloaded: return "project.reloaded"
        case .manifestChanged: return "manifest.changed"
        case .manifestPinned: return "manifest.pinned"
        case .manifestInvalid: return "manifest.invalid"
        case .peerUnexpected: return "peer.unexpected"
        case .requestInvalid: return "request.invalid"
        case .brokerStarted: return "broker.started"
        case .brokerStopping: return "broker.stopping"
        case .auditDegraded: return "audit.degraded"
        case .auditRecovered: return "audit.recovered"
        case .auditSuppressed: return "audit.suppressed"
        }
    }

    /// The project (or socket) an event is about, nil for broker-wide events. When the audit
    /// queue or the degraded-mode ring overflows, the events of the owner holding the most
    /// room are dropped first (SPEC §13), so a flooding project cannot push out the others.
    public var owner: String? {
        switch self {
        case let .projectRegistered(project, _),
             let .projectUnregistered(project, _), let .projectReloaded(project, _, _, _),
             let .manifestInvalid(project, _),
             let .manifestChanged(project, _, _), let .manifestPinned(project, _, _):
            return project
        case let .fetch(requester, _, _, _, _, _, _):
            return requester.name
        case let .requestInvalid(socket, _):
            return socket
        case let .peerUnexpected(scope, _), let .auditSuppressed(scope, _, _):
            return scope.name
        case .secretsPushed, .secretsCleared, .brokerStarted, .brokerStopping, .auditDegraded, .auditRecovered:
            return nil
        }
    }
}

extension AuditEvent {
    /// A `fetch` whose decision and reason follow from the outcome, so the three cannot
    /// disagree at a call site.
    public static func fetch(_ requester: Requester, secretName: String, outcome: Outcome,
                             peer: PeerCredentials, latencyMicros: Int) -> AuditEvent {
        .fetch(requester: requester, secretName: secretName, decision: outcome.decision, outcome: outcome,
               reason: outcome.denyReason, peer: peer, latencyMicros: latencyMicros)
    }
}
