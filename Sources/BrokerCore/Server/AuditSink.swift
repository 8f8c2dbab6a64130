/// The server's handle on the audit log.
///
/// The daemon starts the audit writer thread only after it has dropped privileges (SPEC §7
/// step 4): capabilities, the uid and NO_NEW_PRIVS are per thread, so a writer started
/// earlier would keep root's full capability set however thoroughly the main thread
/// dropped its own. Events recorded before the log is attached (a project whose manifest
/// went bad while the registry was restored) are held here, in order, and handed over by
/// `attach`; they are stamped when handed over, milliseconds after they happened.
public final class AuditSink {
    public let path: String
    public private(set) var log: AuditLog?
    private var held: [AuditEvent] = []

    public init(path: String) {
        self.path = path
    }

    public func record(_ event: AuditEvent) {
        if let log {
            log.record(event)
        } else {
            held.append(event)
        }
    }

    /// From now on events go to `log`, starting with those held so far.
    public func attach(_ log: AuditLog) {
        self.log = log
        for event in held { log.record(event) }
        held = []
    }

    /// The `audit` object of `status`.
    public var snapshot: AuditStatus {
        log?.snapshot ?? AuditStatus(path: path, degraded: false, droppedEvents: 0)
    }
}
