import BrokerCore
import CSeccomp

/// The client half of live rotation (SPEC §10), shared by `exec --watch` and `sync`: holds what
/// was delivered, parks a `wait` on the project socket, and on a change re-fetches every
/// binding and acts only on what renders differently. Never prints a value.
///
/// Driven by its owner's poll loop: `pollFD`/`pollTimeout` say what to wait for, `step` does
/// whatever is due and reports what changed.
final class RotationFollower {
    /// Changes within this long after an applied change are applied together after it.
    static let coalesceNanoseconds: UInt64 = 200_000_000
    static let waitTimeoutSeconds = 300

    let socket: String
    let delivery: Delivery
    let filesOnly: Bool
    let tool: String
    /// What is in place now, one entry per binding (secret bytes: zeroed when replaced).
    private(set) var delivered: [Delivery.Prepared]
    private var connection: BrokerConnection?
    private var revision: String?
    private var waitOutstanding = false
    /// When the next re-fetch is due (nil: none pending; set after (re)connecting and on a change).
    private var refreshDue: UInt64?
    private var lastChangeApplied: UInt64 = 0
    private var reconnectAt: UInt64 = 0
    private var backoff: UInt64 = 100_000_000
    private var warnedMissing: Set<String> = []
    private var lostLogged = false

    /// What a step changed: whether files were rewritten, and env bindings that differ (not
    /// applied yet: the owner decides — restart CMD with them, or ignore them).
    struct Changes {
        var files: [String] = []
        var env: [Delivery.Prepared] = []
    }

    init(socket: String, delivery: Delivery, filesOnly: Bool, tool: String, delivered: [Delivery.Prepared]) {
        self.socket = socket
        self.delivery = delivery
        self.filesOnly = filesOnly
        self.tool = tool
        self.delivered = delivered
    }

    deinit { for index in delivered.indices { delivered[index].zeroize() } }

    var pollFD: Int32? { waitOutstanding ? connection?.fd : nil }

    /// Milliseconds until `step` has something to do without input (-1: only input).
    func pollTimeout(now: UInt64) -> Int32 {
        let due: UInt64
        if connection == nil {
            due = reconnectAt
        } else if let refreshDue {
            due = refreshDue
        } else if !waitOutstanding {
            due = now
        } else {
            return -1
        }
        return due <= now ? 0 : Int32(min(60_000, (due - now + 999_999) / 1_000_000))
    }

    /// Reads a wait answer when `readable`, reconnects, re-fetches, and parks the next wait.
    /// Never fails: whatever goes wrong is logged and retried with backoff, and what was
    /// delivered stays in place (the command keeps running).
    func step(now: UInt64, readable: Bool) -> Changes {
        var changes = Changes()
        if readable, waitOutstanding, let connection {
            waitOutstanding = false
            do {
                let reply = try connection.receive()
                if !reply.ok {
                    log("wait: \(reply.code ?? "error"): \(reply.message ?? ""); reconnecting")
                    drop(now: now)
                } else {
                    if reply.document["changed"] == .bool(true) {
                        refreshDue = max(now, lastChangeApplied &+ RotationFollower.coalesceNanoseconds)
                    }
                    revision = reply.string("revision") ?? revision
                }
            } catch {
                lost(error, now: now)
            }
        }
        if connection == nil {
            guard now >= reconnectAt else { return changes }
            do {
                connection = try BrokerConnection(path: socket, timeoutSeconds: RotationFollower.waitTimeoutSeconds + 30)
            } catch {
                lost(error, now: now)
                return changes
            }
            if lostLogged { log("reconnected to \(socket)") }
            lostLogged = false
            backoff = 100_000_000
            refreshDue = now  // whatever changed while away
        }
        if let due = refreshDue, now >= due, let connection {
            refreshDue = nil
            let fetched: Result<ExecCommand.Snapshot, ExecCommand.Waiting>
            do {
                fetched = try ExecCommand.fetch(over: connection, filesOnly: filesOnly)
            } catch {
                log("warning: \(error.message); retrying")
                drop(now: now)
                return changes
            }
            switch fetched {
            case .failure:
                lost(BrokerConnection.Failure.closed, now: now)
                return changes
            case .success(var snapshot):
                defer { snapshot.zeroize() }
                guard let current = snapshot.revision else {
                    log("warning: the broker at \(socket) reports no revision (too old for live rotation); retrying")
                    drop(now: now)
                    return changes
                }
                revision = current
                changes = compare(snapshot)
                if !changes.files.isEmpty || !changes.env.isEmpty { lastChangeApplied = now }
            }
        }
        if let connection, refreshDue == nil, !waitOutstanding, let revision {
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("op", "wait")
            writer.field("revision", revision)
            writer.field("timeout_seconds", RotationFollower.waitTimeoutSeconds)
            writer.endObject()
            do {
                try connection.send(writer)
                waitOutstanding = true
            } catch {
                lost(error, now: now)
            }
        }
        return changes
    }

    /// Takes env bindings the owner applied (after `setenv`) as delivered.
    func accept(_ prepared: [Delivery.Prepared]) {
        for item in prepared { replace(item) }
    }

    private func replace(_ item: Delivery.Prepared) {
        if let index = delivered.firstIndex(where: { $0.secret == item.secret }) {
            delivered[index].zeroize()
            delivered[index] = item
        } else {
            delivered.append(item)
        }
    }

    /// Renders the snapshot and keeps only what differs from what was delivered; files are
    /// rewritten here. A binding that is missing or cannot be rendered keeps its last value.
    private func compare(_ snapshot: ExecCommand.Snapshot) -> Changes {
        var changes = Changes()
        var nowMissing: Set<String> = []
        for (name, reason) in snapshot.missing {
            nowMissing.insert(name)
            if !warnedMissing.contains(name) {
                log("warning: \(name) is missing from the broker (\(reason)); keeping the last delivered value")
            }
        }
        warnedMissing = nowMissing
        var files: [Delivery.Prepared] = []
        for secret in snapshot.fetched {
            var fresh: Delivery.Prepared
            do {
                fresh = try delivery.prepare(secret)
            } catch {
                log("warning: \(error.message); keeping the last delivered value")
                continue
            }
            if let old = delivered.first(where: { $0.secret == fresh.secret }), old.sameDelivery(as: fresh) {
                fresh.zeroize()
                continue
            }
            switch fresh {
            case .file: files.append(fresh)
            case .env: changes.env.append(fresh)
            }
        }
        for index in files.indices {
            do {
                try delivery.apply([files[index]])
                changes.files.append(files[index].secret)
                replace(files[index])
            } catch {
                log("warning: \(error.message); keeping the last delivered file")
                files[index].zeroize()
            }
        }
        return changes
    }

    private func lost(_ error: BrokerConnection.Failure, now: UInt64) {
        if !lostLogged { log("lost the broker at \(socket) (\(error)); reconnecting") }
        lostLogged = true
        drop(now: now)
    }

    private func drop(now: UInt64) {
        connection = nil
        waitOutstanding = false
        reconnectAt = now &+ backoff
        backoff = min(backoff * 2, 2_000_000_000)
    }

    func log(_ line: String) { Console.error("remo-broker \(tool): \(line)") }
}

extension Delivery.Prepared {
    var secret: String {
        switch self {
        case .env(_, _, let secret), .file(_, _, _, let secret): return secret
        }
    }

    /// Whether both put the same bytes in the same place.
    func sameDelivery(as other: Delivery.Prepared) -> Bool {
        switch (self, other) {
        case (.env(let a, let x, _), .env(let b, let y, _)): return a == b && x == y
        case (.file(let a, let x, let m, _), .file(let b, let y, let n, _)): return a == b && m == n && x == y
        default: return false
        }
    }
}
