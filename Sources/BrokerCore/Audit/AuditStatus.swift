/// The audit log's state as `status` reports it (SPEC §3.2, the `audit` object).
public struct AuditStatus: Equatable, Sendable {
    public let path: String
    /// True while events cannot reach the file: it cannot be opened or written, or the
    /// writer fell behind and the bounded queue is dropping events.
    public let degraded: Bool
    /// Events lost since the log was created (evicted from the in-memory ring while degraded,
    /// or refused because the queue was full, or recorded after `close`).
    public let droppedEvents: Int

    public init(path: String, degraded: Bool, droppedEvents: Int) {
        self.path = path
        self.degraded = degraded
        self.droppedEvents = droppedEvents
    }

    /// Writes the `audit` object of `status`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("path", path)
        writer.field("degraded", degraded)
        writer.field("dropped_events", droppedEvents)
        writer.endObject()
    }
}
