import CSeccomp

/// The writer thread's half of the audit log. Apart from `openAtStart` (called by
/// `AuditLog.init` before the thread exists) everything here runs on that one thread, so
/// none of this state is locked; what other threads may read lives in `AuditQueue`.
///
/// Stream order, which the tests pin down:
/// - healthy: each batch is appended as it is taken;
/// - queue overflow: after the batch that filled the queue comes an `audit.degraded`
///   (stamped with the first refused event's time) and an `audit.recovered` pair;
/// - file unwritable: an `audit.degraded` header, then the newest `memoryCapacity` events
///   held in memory (older ones evicted and counted), then, once a retry succeeds,
///   `audit.recovered`. The header is kept outside the ring, so however many events were
///   evicted the log still shows when the outage began.
/// When the writer records the chain's head (SPEC §11): every `everyEvents` links, every
/// `intervalNanos` with new links, and at stop. No `path`: no head (unit tests of the queue).
struct AuditHeadPolicy {
    var path: String?
    var everyEvents = 1000
    var intervalNanos: Int64 = 60_000_000_000
}

final class AuditWriter {
    /// How often an unwritable file is retried when no events arrive.
    static let retryIntervalNanos: Int64 = 500_000_000
    /// How soon after a failed attempt new events may trigger the next one (bounds the
    /// syscall rate while a broken disk is being hammered with events).
    static let minimumRetrySpacingNanos: Int64 = 50_000_000

    let path: String
    private let queue: AuditQueue
    private var file: AuditFile?
    /// The hash chain (SPEC §11): where the next written line links to.
    private var chain = AuditChain(head: .genesis)
    private let headPolicy: AuditHeadPolicy
    /// The head last written to `audit.head` (or found at start), and when.
    private var recordedHead: AuditChainHead = .genesis
    private var recordedHeadNanos: Int64 = 0
    private var ring: AuditRing
    private var outage: Outage?
    /// Events dropped so far as this stream accounts for them: the value the next
    /// `audit.degraded` / `audit.recovered` line carries.
    private var droppedSoFar = 0
    /// Reused across batches: the lines taken from the queue, and the write buffer.
    private var batch: [[UInt8]] = []
    /// The owner of each line in `batch` (the ring evicts by owner).
    private var batchOwners: [String?] = []
    private var scratch: [UInt8] = []

    /// A period during which the file could not be opened or written.
    private struct Outage {
        /// The `audit.degraded` line that heads the kept events; nil once it is written.
        var header: [UInt8]?
        var lastAttemptNanos: Int64
        var nextAttemptNanos: Int64
    }

    init(path: String, queue: AuditQueue, memoryCapacity: Int, headPolicy: AuditHeadPolicy) {
        self.path = path
        self.queue = queue
        self.ring = AuditRing(capacity: memoryCapacity)
        self.headPolicy = headPolicy
    }

    deinit {
        // Normally closed by `finish`; this covers a thread that never started.
        file?.close()
    }

    /// Opens the file on the caller's thread, so the daemon does it before its seccomp filter
    /// is installed and `status` is right from the start. A failure starts the log degraded.
    /// Also finds where the chain continues: the file's last link or `audit.head`.
    func openAtStart() {
        let tail = AuditChainStart.scanTail(path)
        let recorded = headPolicy.path.flatMap(AuditChainHead.read)
        let start = AuditChainStart.choose(fileLast: tail.last, recorded: recorded)
        if let last = tail.last, let recorded, recorded.seq > last.seq {
            Console.error("remo-broker: audit log \(path) ends at seq \(last.seq), before the recorded head seq \(recorded.seq); "
                + "continuing the chain from the head")
        }
        chain = AuditChain(head: start)
        recordedHead = recorded ?? .genesis
        recordedHeadNanos = AuditClock.nowNanos()
        do {
            var opened = try AuditFile.open(path)
            if tail.endsInsideLine { opened.startOnNewLine() }
            file = opened
        } catch {
            enterOutage(keeping: 0..<0, because: error)
        }
    }

    /// The thread's body: take, write (or keep), repeat until `close` asks it to stop.
    func run() {
        while true {
            let deadline: Int64?
            switch (outage?.nextAttemptNanos, headDueNanos) {
            case let (retry?, head?): deadline = min(retry, head)
            case let (retry, head): deadline = retry ?? head
            }
            let take = queue.take(into: &batch, owners: &batchOwners, deadlineNanos: deadline)
            if take.overflowDrops > 0 { appendOverflowMarkers(take) }
            if outage == nil {
                writeBatch()
            } else {
                retryOrKeepBatch(force: take.stopRequested)
            }
            batch.removeAll(keepingCapacity: true)
            batchOwners.removeAll(keepingCapacity: true)
            if !take.stopRequested { writeHeadIfDue() }
            if take.stopRequested { break }
        }
        finish()
        queue.markWriterExited()
    }

    // MARK: healthy

    private func appendOverflowMarkers(_ take: AuditTake) {
        batch.append(AuditEvent.auditDegraded(droppedEvents: droppedSoFar).encodedLine(at: take.firstDropTime))
        droppedSoFar += take.overflowDrops
        batch.append(AuditEvent.auditRecovered(droppedEvents: droppedSoFar).encodedLine(at: .now()))
        batchOwners.append(contentsOf: [nil, nil])
    }

    private func writeBatch() {
        guard !batch.isEmpty else { return }
        if let error = openFileIfNeeded() {
            enterOutage(keeping: batch.indices, because: error)
            return
        }
        guard var current = file else { return }
        let result = current.append(batch[...], chain: &chain, buffer: &scratch)
        file = current
        if let error = result.error {
            enterOutage(keeping: result.written..<batch.count, because: error)
        }
    }

    /// Reopens when the path was rotated away or replaced; returns why it cannot be opened.
    private func openFileIfNeeded() -> SystemError? {
        if let current = file, !current.isStillAtPath() {
            current.close()
            file = nil
        }
        guard file == nil else { return nil }
        do {
            file = try AuditFile.open(path)
            return nil
        } catch {
            return error
        }
    }

    // MARK: degraded

    /// `lines`: the indices of `batch` that were not written.
    private func enterOutage(keeping lines: Range<Int>, because error: SystemError) {
        let now = AuditClock.nowNanos()
        let header = AuditEvent.auditDegraded(droppedEvents: droppedSoFar).encodedLine(at: .now())
        outage = Outage(header: header, lastAttemptNanos: now, nextAttemptNanos: now + Self.retryIntervalNanos)
        keep(batch[lines], owners: batchOwners[lines])
        queue.setFileDegraded(true)
        Console.error("remo-broker: audit log degraded: \(error); keeping the newest \(ring.capacity) events in memory")
    }

    /// Holds lines in the ring; whatever it evicts is dropped and counted.
    private func keep(_ lines: ArraySlice<[UInt8]>, owners: ArraySlice<String?>) {
        let evicted = ring.append(contentsOf: lines, owners: owners)
        guard evicted > 0 else { return }
        droppedSoFar += evicted
        queue.countDropped(evicted)
    }

    /// While degraded: retry the file when due (or when stopping), writing header, kept
    /// events, this batch and `audit.recovered` in one go; otherwise keep the batch.
    private func retryOrKeepBatch(force: Bool) {
        guard var current = outage else { return }
        let now = AuditClock.nowNanos()
        let due = force || now >= current.nextAttemptNanos
            || (!batch.isEmpty && now >= current.lastAttemptNanos + Self.minimumRetrySpacingNanos)
        guard due else {
            keep(batch[...], owners: batchOwners[...])
            if !batch.isEmpty {
                current.nextAttemptNanos = min(current.nextAttemptNanos,
                                               current.lastAttemptNanos + Self.minimumRetrySpacingNanos)
            }
            outage = current
            return
        }
        current.lastAttemptNanos = now
        current.nextAttemptNanos = now + Self.retryIntervalNanos
        outage = current

        guard openFileIfNeeded() == nil, var target = file else {
            keep(batch[...], owners: batchOwners[...])
            return
        }
        var lines: [[UInt8]] = []
        var owners: [String?] = []
        lines.reserveCapacity(ring.count + batch.count + 2)
        let headerCount = current.header == nil ? 0 : 1
        if let header = current.header { lines.append(header) }
        let kept = ring.removeAll()
        lines.append(contentsOf: kept.lines)
        lines.append(contentsOf: batch)
        lines.append(AuditEvent.auditRecovered(droppedEvents: droppedSoFar).encodedLine(at: .now()))
        owners.append(contentsOf: repeatElement(nil, count: headerCount))
        owners.append(contentsOf: kept.owners)
        owners.append(contentsOf: batchOwners)
        owners.append(nil)

        let result = target.append(lines[...], chain: &chain, buffer: &scratch)
        file = target
        guard result.error != nil else {
            outage = nil
            queue.setFileDegraded(false)
            Console.error("remo-broker: audit log recovered: \(path) is writable again; \(droppedSoFar) events dropped in total")
            return
        }
        // Still failing part-way: what did not make it goes back to the ring, minus the
        // `audit.recovered` line (a later success writes a fresh one).
        if result.written > 0 { outage?.header = nil }
        let firstUnwritten = max(result.written, headerCount)
        let unwritten = firstUnwritten..<(lines.count - 1)
        if !unwritten.isEmpty { keep(lines[unwritten], owners: owners[unwritten]) }
    }

    // MARK: head

    /// When the head must be written by time: `interval` after the last one, once new
    /// links exist; nil while nothing is new.
    private var headDueNanos: Int64? {
        guard headPolicy.path != nil, chain.head.seq != recordedHead.seq else { return nil }
        return recordedHeadNanos + headPolicy.intervalNanos
    }

    private func writeHeadIfDue() {
        guard headPolicy.path != nil, chain.head.seq != recordedHead.seq else { return }
        let byCount = chain.head.seq >= recordedHead.seq + UInt64(headPolicy.everyEvents)
        let byTime = AuditClock.nowNanos() >= recordedHeadNanos + headPolicy.intervalNanos
        if byCount || byTime { writeHead() }
    }

    /// Replaces `audit.head` atomically and prints the same head on stderr (journald).
    private func writeHead() {
        guard let headPath = headPolicy.path else { return }
        let head = chain.head
        recordedHeadNanos = AuditClock.nowNanos()
        recordedHead = head
        do {
            try head.write(to: headPath)
        } catch {
            Console.error("remo-broker: audit head not written to \(headPath): \(error)")
        }
        Console.error(head.logLine)
    }

    // MARK: exit

    private func finish() {
        // At stop the head is always written (and logged) once there is a chain at all.
        if chain.head.seq > 0 { writeHead() }
        if outage != nil {
            let lost = ring.removeAll().lines.count
            queue.countDropped(lost)
            Console.error("remo-broker: audit log still unwritable at shutdown; \(lost) events held in memory are lost")
        }
        file?.close()
        file = nil
    }
}
