import CSeccomp

/// One file descriptor held back for the moment the process runs out of them (EMFILE):
/// closing it makes room to `accept` a pending connection and close it again, so a full
/// descriptor table drains the accept queue instead of leaving the listener readable and
/// the loop spinning on it (SPEC §13). /dev/null is opened because reopening it later needs
/// only `openat`, which the seccomp allowlist has anyway.
public final class DescriptorReserve {
    private var fd: Int32

    public init() throws(SystemError) {
        fd = try retryingEINTR("open", subject: "/dev/null") { open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Whether the descriptor is held (a failed `restore` leaves it released).
    public var isHeld: Bool { fd >= 0 }

    /// Gives the descriptor back to the process for one `accept`.
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Takes a descriptor again; false while none is free (then tried again next time).
    @discardableResult
    public func restore() -> Bool {
        if fd < 0 { fd = open("/dev/null", O_RDONLY | O_CLOEXEC) }
        return fd >= 0
    }
}
