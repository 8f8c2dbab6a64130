import CSeccomp

/// What the writer receives from one `AuditQueue.take`.
struct AuditTake {
    /// Events lost because the queue was full since the previous take: newcomers refused,
    /// or older lines of the heaviest owner given up for another owner's newcomer. The
    /// writer marks the gap right after this take's lines.
    var overflowDrops = 0
    /// When the first of them was refused.
    var firstDropTime = WallClockTime(seconds: 0)
    /// `close` was called: this take holds the last lines there will ever be.
    var stopRequested = false
}

/// The bounded hand-off between `record` (serving thread) and the writer thread: a pthread
/// mutex, one condition variable per direction, and counters `status` reads.
///
/// Queue-full policy. The writer is stalled in a `write` when this happens.
/// - The newcomer belongs to the owner (project or socket, `AuditEvent.owner`) holding the
///   most queued lines, or nothing queued has an owner: the newcomer is refused and counted.
///   Keeping the older events keeps what reaches the file a gap-free prefix, and the gap is
///   marked by an `audit.degraded` / `audit.recovered` pair right after it, timestamps in
///   order; dropping the oldest instead would lose as many events and punch the hole into
///   already-accepted history.
/// - Otherwise room is taken from that heaviest owner, the one causing the overflow: its
///   oldest queued line is dropped (and counted) and the newcomer is queued (SPEC §13), so a
///   flooding project cannot push another project's `fetch` out of the log. That gap lies
///   inside the batch; the marker pair still follows it and counts it.
/// (While the *file* is unwritable the ring keeps the newest events instead, as SPEC §6 asks:
/// that ring is what an operator reads after an outage, and recent activity matters most.)
///
/// Coalescing: once a line arrives, the writer lets more gather for `coalesceNanos` (or
/// until the queue is half full) before taking them, and `push` wakes the writer only when it
/// sleeps on an empty queue. Measured with one client doing warm `get`s on one CPU: waking
/// the writer for every event (a futex wake, then a context switch and a `write` per line)
/// cost ~10 µs per get, doubling its latency; batching makes that one wake-up per window.
final class AuditQueue: @unchecked Sendable {
    let capacity: Int
    let coalesceNanos: Int64
    /// A lingering batch this large wakes the writer early (keeps overflow away).
    private var highWater: Int { max(1, capacity / 2) }

    // pthread objects live on the heap: they must never move once initialised.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let writerExited = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    // Guarded by `mutex`.
    private var pending: [[UInt8]] = []
    /// The `AuditEvent.owner` of each pending line.
    private var pendingOwners: [String?] = []
    private var owners = AuditOwners()
    private var overflowDrops = 0
    private var firstDropTime = WallClockTime(seconds: 0)
    private var stopRequested = false
    private var writerHasExited = false
    private var fileDegraded = false
    private var droppedTotal = 0
    /// The writer waits for a first line: only then does `push` need to signal.
    private var writerIdle = false

    init(capacity: Int, coalesceNanos: Int64 = 0) {
        precondition(capacity > 0, "AuditQueue capacity must be positive")
        self.capacity = capacity
        self.coalesceNanos = coalesceNanos
        pthread_mutex_init(mutex, nil)
        // Timed waits use CLOCK_MONOTONIC so a wall-clock jump cannot stall the retry timer.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(workAvailable, &attributes)
        pthread_cond_init(writerExited, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(writerExited)
        pthread_cond_destroy(workAvailable)
        pthread_mutex_destroy(mutex)
        writerExited.deallocate()
        workAvailable.deallocate()
        mutex.deallocate()
    }

    private func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    // MARK: serving side

    /// Enqueues `line` unless the queue is closed, or full with the newcomer's owner holding
    /// the most lines (then it is counted as dropped). Never waits for I/O: the lock is held
    /// for O(owners) work, plus a scan of the queue when an overflow evicts. Returns whether
    /// the line was accepted.
    @discardableResult
    func push(_ line: [UInt8], owner: String? = nil, recordedAt time: WallClockTime) -> Bool {
        pthread_mutex_lock(mutex)
        if stopRequested {
            droppedTotal += 1
            pthread_mutex_unlock(mutex)
            return false
        }
        if pending.count >= capacity {
            if overflowDrops == 0 { firstDropTime = time }
            overflowDrops += 1
            droppedTotal += 1
            guard let heaviest = owners.heaviest, heaviest.owner != owner, heaviest.count > owners.count(of: owner),
                  let victim = AuditOwners.oldest(of: heaviest.owner, in: pendingOwners) else {
                owners.noteDropped(owner)
                pthread_mutex_unlock(mutex)
                return false
            }
            owners.remove(heaviest.owner)
            owners.noteDropped(heaviest.owner)
            pending.remove(at: victim)
            pendingOwners.remove(at: victim)
        }
        pending.append(line)
        pendingOwners.append(owner)
        owners.add(owner)
        // Wake the writer when it sleeps on an empty queue, or when a coalescing batch hits
        // the high-water mark; any other line just joins the batch.
        let wake = (writerIdle && pending.count == 1) || pending.count == highWater
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(workAvailable) }
        return true
    }

    var status: (degraded: Bool, droppedEvents: Int) {
        withLock { (fileDegraded || overflowDrops > 0, droppedTotal) }
    }

    /// Asks the writer to write what is queued and exit. Returns false if already asked.
    func requestStop() -> Bool {
        let first = withLock { () -> Bool in
            defer { stopRequested = true }
            return !stopRequested
        }
        if first { pthread_cond_signal(workAvailable) }
        return first
    }

    /// Waits until the writer has exited or `deadlineNanos` (CLOCK_MONOTONIC) has passed.
    func waitForWriterExit(deadlineNanos: Int64) -> Bool {
        withLock {
            var deadline = AuditClock.timespec(nanos: deadlineNanos)
            while !writerHasExited {
                if pthread_cond_timedwait(writerExited, mutex, &deadline) == ETIMEDOUT { break }
            }
            return writerHasExited
        }
    }

    // MARK: writer side

    /// Waits for lines (or a stop request, or `deadlineNanos` if given), then swaps every
    /// pending line into `lines` and its owner into `lineOwners` (both must be empty; their
    /// capacity is reused).
    func take(into lines: inout [[UInt8]], owners lineOwners: inout [String?], deadlineNanos: Int64?) -> AuditTake {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        writerIdle = true
        if var deadline = deadlineNanos.map(AuditClock.timespec(nanos:)) {
            while pending.isEmpty && !stopRequested {
                if pthread_cond_timedwait(workAvailable, mutex, &deadline) == ETIMEDOUT { break }
            }
        } else {
            while pending.isEmpty && !stopRequested { pthread_cond_wait(workAvailable, mutex) }
        }
        writerIdle = false
        if coalesceNanos > 0 && !pending.isEmpty {
            var until = AuditClock.timespec(nanos: AuditClock.nowNanos() + coalesceNanos)
            while pending.count < highWater && !stopRequested {
                if pthread_cond_timedwait(workAvailable, mutex, &until) == ETIMEDOUT { break }
            }
        }
        swap(&pending, &lines)
        swap(&pendingOwners, &lineOwners)
        owners.removeAll()
        let take = AuditTake(overflowDrops: overflowDrops, firstDropTime: firstDropTime,
                             stopRequested: stopRequested)
        overflowDrops = 0
        return take
    }

    /// Counts events the writer had to give up (evicted from its ring, or unwritable at exit).
    func countDropped(_ count: Int) {
        guard count > 0 else { return }
        withLock { droppedTotal += count }
    }

    func setFileDegraded(_ degraded: Bool) {
        withLock { fileDegraded = degraded }
    }

    func markWriterExited() {
        withLock { writerHasExited = true }
        pthread_cond_broadcast(writerExited)
    }
}

/// CLOCK_MONOTONIC in nanoseconds, for retry timers and deadlines (never for timestamps).
enum AuditClock {
    static func nowNanos() -> Int64 {
        var spec = CTimespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    static func nanos(seconds: Double) -> Int64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return seconds >= 1e9 ? Int64(1e18) : Int64(seconds * 1e9)
    }

    static func timespec(nanos: Int64) -> CTimespec {
        CTimespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    }
}
