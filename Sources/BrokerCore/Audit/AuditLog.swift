import CSeccomp

// The append-only audit log of SPEC §6: `record` encodes and enqueues on the caller's thread
// and never touches the disk; one writer thread drains the queue into the file.
//
// Syscalls the writer thread makes once running (for the seccomp allowlist; x86_64 names,
// glibc 2.36, checked with `strace -f` over the AuditLog tests):
//   futex              queue mutex / condition variables (FUTEX_WAIT_BITSET, FUTEX_WAKE), and
//                      the Swift runtime's own locks (FUTEX_LOCK_PI / FUTEX_UNLOCK_PI)
//   gettid             once: the Swift runtime caches the thread id for those locks
//   clock_gettime      timestamps and retry timers (normally the vDSO: no syscall at all)
//   openat             (re)open the log after rotation or an outage (O_WRONLY|O_APPEND|O_CREAT|
//                      O_CLOEXEC|O_NOCTTY|O_NONBLOCK, mode 0600)
//   newfstatat         stat(path) for the rotation check before each batch, fstat(fd) after
//                      each open (glibc >= 2.33 issues newfstatat for both; allow fstat too
//                      if the libc changes)
//   fcntl              F_SETFL after each open (clears O_NONBLOCK)
//   write              the log lines; one stderr line per degraded/recovered transition
//   ftruncate          cut off a line torn by a failed write (ENOSPC/EIO)
//   openat, write, rename, close, unlink
//                      audit.head (SPEC §11): temp file beside it, rename over it (no fsync,
//                      see AuditChainHead.write); unlink on failure
//   close              the rotated-away or replaced descriptor
//   mmap, munmap, mprotect, madvise, brk
//                      malloc: the thread's own arena is created on its first allocation
//                      (mmap PROT_NONE, munmap, mprotect) and trimmed with madvise
//   read               once per process: glibc reads /proc/sys/vm/overcommit_memory (openat,
//                      read, close) the first time it shrinks a thread arena
//   rt_sigprocmask, madvise, exit
//                      thread exit at `close` (glibc blocks signals, releases the stack)
// The thread is created in `init` (clone/clone3; the new thread's rseq, set_robust_list and
// rt_sigprocmask happen right away, before any filter can be installed); `close` joins it
// from the calling thread (futex).
// Every signal is blocked in the writer thread, so process-directed signals (SIGTERM, ...)
// are always delivered to the daemon's own threads.

/// The audit log. Thread-safe; meant to be created once by the daemon before hardening.
///
/// If the file cannot be opened at start (EACCES, missing directory, read-only fs, ...) the
/// log starts *degraded* instead of failing: the daemon keeps serving, events are held in
/// memory and the file is retried. Only an unusable argument throws (empty or relative path,
/// a NUL byte in it, a capacity below 1), or a failure to start the writer thread.
/// The log never creates the directory it lives in: that is the daemon's start-up job.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private let queue: AuditQueue
    /// Written in `init` only; `close` is the only reader and runs once (`requestStop`).
    private let thread: pthread_t

    /// `coalesceMilliseconds`: how long events gather before the writer takes them (see
    /// `AuditQueue`); 0 writes each wake-up's events at once. `headPath`: where the chain's
    /// head is recorded (`<state dir>/audit.head`, SPEC §11), every `headEveryEvents` links,
    /// every `headIntervalSeconds` with new links and at `close`; nil records none.
    public init(path: String, queueCapacity: Int = 4096, memoryCapacity: Int = 1000,
                coalesceMilliseconds: Int = 5, headPath: String? = nil,
                headEveryEvents: Int = 1000, headIntervalSeconds: Int = 60) throws(SystemError) {
        guard path.hasPrefix("/"), !path.utf8.contains(0), path.utf8.count < Int(PATH_MAX),
              queueCapacity >= 1, memoryCapacity >= 1, headEveryEvents >= 1, headIntervalSeconds >= 1,
              headPath.map({ $0.hasPrefix("/") && !$0.utf8.contains(0) }) ?? true else {
            throw SystemError("AuditLog.init", errno: EINVAL, subject: path)
        }
        self.path = path
        let queue = AuditQueue(capacity: queueCapacity, coalesceNanos: Int64(max(0, coalesceMilliseconds)) * 1_000_000)
        let policy = AuditHeadPolicy(path: headPath, everyEvents: headEveryEvents,
                                     intervalNanos: Int64(headIntervalSeconds) * 1_000_000_000)
        let writer = AuditWriter(path: path, queue: queue, memoryCapacity: memoryCapacity, headPolicy: policy)
        writer.openAtStart()
        self.queue = queue
        self.thread = try Self.startWriterThread(writer)
    }

    deinit {
        // Dropped without `close`: let the writer flush and exit on its own.
        if queue.requestStop() { pthread_detach(thread) }
    }

    /// Records `event`, stamped now. Never blocks on I/O and never fails: if the queue is
    /// full the event is dropped and counted (see `AuditQueue` for why the newest).
    public func record(_ event: AuditEvent) {
        let now = WallClockTime.now()
        queue.push(event.encodedLine(at: now), owner: event.owner, recordedAt: now)
    }

    /// The `audit` object of `status`.
    public var snapshot: AuditStatus {
        let status = queue.status
        return AuditStatus(path: path, degraded: status.degraded, droppedEvents: status.droppedEvents)
    }

    /// Writes what is queued (retrying an unwritable file once more), stops and joins the
    /// writer. Waits at most `timeoutSeconds`: a writer stuck in a hung `write` is detached
    /// and left to finish alone. Events recorded afterwards are dropped and counted.
    /// Idempotent.
    public func close(timeoutSeconds: Double) {
        guard queue.requestStop() else { return }
        let deadline = AuditClock.nowNanos() + AuditClock.nanos(seconds: timeoutSeconds)
        if queue.waitForWriterExit(deadlineNanos: deadline) {
            pthread_join(thread, nil)
        } else {
            pthread_detach(thread)
            Console.error("remo-broker: audit writer did not finish within \(timeoutSeconds)s; queued events may be lost")
        }
    }

    /// Starts the writer with every signal blocked (the new thread inherits the mask).
    private static func startWriterThread(_ writer: AuditWriter) throws(SystemError) -> pthread_t {
        var blockAll = sigset_t()
        var previous = sigset_t()
        sigfillset(&blockAll)
        pthread_sigmask(SIG_BLOCK, &blockAll, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

        let context = Unmanaged.passRetained(writer).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, auditWriterThreadMain, context)
        guard result == 0 else {
            Unmanaged<AuditWriter>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: result, subject: writer.path)
        }
        return thread
    }
}

/// The writer thread's entry point. A global function, not a closure: a closure literal
/// would inherit @MainActor isolation from top-level code and trap (DESIGN.md §3).
private func auditWriterThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    let writer = Unmanaged<AuditWriter>.fromOpaque(context).takeRetainedValue()
    writer.run()
    return nil
}
