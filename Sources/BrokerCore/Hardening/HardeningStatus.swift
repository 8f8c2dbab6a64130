/// What protection is really in force, as read back from the kernel (never from flags the
/// code set). Reported in `status` and in the `broker.started` audit event.
public struct HardeningStatus: Equatable, Sendable {
    public var memoryLocked: Bool
    public var seccomp: Bool
    public var capabilitiesDropped: Bool
    public var noNewPrivs: Bool
    public var dumpable: Bool

    public init(memoryLocked: Bool = false, seccomp: Bool = false, capabilitiesDropped: Bool = false,
                noNewPrivs: Bool = false, dumpable: Bool = true) {
        self.memoryLocked = memoryLocked
        self.seccomp = seccomp
        self.capabilitiesDropped = capabilitiesDropped
        self.noNewPrivs = noNewPrivs
        self.dumpable = dumpable
    }

    /// Writes the `hardening` object of `status` / `broker.started`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("memory_locked", memoryLocked)
        writer.field("seccomp", seccomp)
        writer.field("capabilities_dropped", capabilitiesDropped)
        writer.field("no_new_privs", noNewPrivs)
        writer.field("dumpable", dumpable)
        writer.endObject()
    }
}
