import BrokerClient
import BrokerCore
import Glibc

/// Request shortcuts and audit/event readers on a running `BrokerProcess`.
extension BrokerProcess {
    /// One request on a fresh admin connection.
    public func adminRequest(_ json: String) throws -> Reply {
        try admin().request(json: json)
    }

    /// `status` as a tree (throws unless ok).
    public func status() throws -> JSONTree {
        let reply = try admin().request(op: "status")
        guard reply.ok else { throw HarnessError("status failed: \(reply.text)") }
        return reply.tree
    }

    /// A connection to project `name`'s socket.
    public func connect(project name: String, timeoutSeconds: Int = 30) throws -> BrokerConnection {
        try BrokerConnection(path: projectSocket(name), timeoutSeconds: timeoutSeconds)
    }

    /// Pushes a `secrets` object given as JSON text (bundles allowed) and checks the reply.
    public func push(json secrets: String) throws {
        let reply = try adminRequest("{\"op\":\"push-creds\",\"secrets\":\(secrets)}")
        guard reply.ok else { throw HarnessError("push failed: \(reply.code ?? "?")") }
    }

    /// Registers an existing project directory, with optional `allowed_uids` / `socket_gid`.
    public func register(_ name: String, path: String, allowedUIDs: [UInt32]? = nil, socketGID: UInt32? = nil) throws -> Reply {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", "register")
        writer.field("name", name)
        writer.field("project_path", path)
        if let allowedUIDs {
            writer.key("allowed_uids")
            writer.beginArray()
            allowedUIDs.forEach { writer.int(Int($0)) }
            writer.endArray()
        }
        if let socketGID { writer.field("socket_gid", Int(socketGID)) }
        writer.endObject()
        return try admin().request(writer)
    }

    /// The audit log's lines parsed (a line that does not parse becomes `.null`).
    public func auditEvents() -> [JSONTree] {
        auditLines().map { (try? JSONTree(parsing: $0)) ?? .null }
    }

    /// Polls until an event matching `predicate` is in the log; returns it (nil on timeout).
    @discardableResult
    public func waitForAuditEvent(timeoutSeconds: Double = 5, _ predicate: (JSONTree) -> Bool) -> JSONTree? {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while true {
            if let match = auditEvents().first(where: predicate) { return match }
            if Monotonic.nanoseconds() >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Polls `status` until `predicate` holds; returns the last status seen.
    @discardableResult
    public func waitForStatus(timeoutSeconds: Double = 5, _ predicate: (JSONTree) -> Bool) throws -> JSONTree {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        var status = try status()
        while !predicate(status), Monotonic.nanoseconds() < deadline {
            usleep(10_000)
            status = try self.status()
        }
        return status
    }
}

extension JSONTree {
    /// The `event` field of an audit line.
    public var event: String? { self["event"]?.string }
}

/// Small polling helper for conditions outside the broker's replies.
public enum Poll {
    /// Evaluates `condition` every 10 ms until it holds or `timeoutSeconds` pass.
    public static func until(timeoutSeconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Monotonic.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while !condition() {
            if Monotonic.nanoseconds() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }
}
