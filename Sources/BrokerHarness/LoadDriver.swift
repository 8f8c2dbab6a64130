import BrokerClient
import BrokerCore
import Glibc
import Synchronization

/// Which pushed generation a `get` may legitimately see. A pusher raises `started` before it
/// sends generation g and `committed` once the broker acknowledged it; a get sent while
/// `committed` was c and answered while `started` was s must carry a generation in c...s
/// (SPEC §3.2: a get racing a push sees the whole old set or the whole new set).
public final class GenerationClock: Sendable {
    private let started = Atomic<Int>(0)
    private let committed = Atomic<Int>(0)

    public init(initial: Int) {
        started.store(initial, ordering: .sequentiallyConsistent)
        committed.store(initial, ordering: .sequentiallyConsistent)
    }

    public var current: Int { committed.load(ordering: .sequentiallyConsistent) }
    public var latestStarted: Int { started.load(ordering: .sequentiallyConsistent) }
    public func begin(_ generation: Int) { started.store(generation, ordering: .sequentiallyConsistent) }
    public func commit(_ generation: Int) { committed.store(generation, ordering: .sequentiallyConsistent) }
}

/// What a load run did.
public struct LoadTotals: Sendable {
    public var gets = 0
    public var pings = 0
    public var infos = 0
    public var pushes = 0
    /// Wrong replies, error replies, and (unless tolerated) failed connections.
    public var errors = 0
    /// Connections lost or refused while disconnects were tolerated (KillTest).
    public var disconnects = 0
    /// The first few errors, described without any secret value.
    public var errorSamples: [String] = []

    public var requests: Int { gets + pings + infos }

    public init() {}

    public mutating func merge(_ other: LoadTotals) {
        gets += other.gets; pings += other.pings; infos += other.infos; pushes += other.pushes
        errors += other.errors; disconnects += other.disconnects
        errorSamples += other.errorSamples.prefix(max(0, 5 - errorSamples.count))
    }

    mutating func error(_ text: String) {
        errors += 1
        if errorSamples.count < 5 { errorSamples.append(SecretMarker.redacted(text)) }
    }
}

/// Mixed get/ping/info load on project sockets from a few worker threads (each owns a slice
/// of the projects, one persistent connection per project, reconnecting every
/// `reconnectEvery` requests), checking every reply, plus an optional pusher thread that
/// pushes a new generation every `pushEverySeconds`. Shared by Soak and KillTest.
/// `start` and `stop` belong to the owning thread; the workers touch only the atomics and mutexes.
public final class LoadDriver: @unchecked Sendable {
    public struct Config: Sendable {
        public var projects: [String]
        public var socketPath: @Sendable (String) -> String
        public var adminSocket: String
        public var secrets: MarkerSet
        public var ratePerProject: Double
        public var workers: Int = 4
        public var reconnectEvery: Int = 200
        public var pushEverySeconds: Double? = nil
        /// KillTest: a lost or refused connection is expected, not an error.
        public var tolerateDisconnects = false

        public init(projects: [String], socketPath: @escaping @Sendable (String) -> String, adminSocket: String,
                    secrets: MarkerSet, ratePerProject: Double) {
            self.projects = projects
            self.socketPath = socketPath
            self.adminSocket = adminSocket
            self.secrets = secrets
            self.ratePerProject = ratePerProject
        }
    }

    public let config: Config
    public let generations: GenerationClock
    private let stopping = Atomic<Bool>(false)
    private let totals = Mutex(LoadTotals())
    private var threads: [BackgroundThread] = []

    public init(_ config: Config, generations: GenerationClock) {
        self.config = config
        self.generations = generations
    }

    public func start() throws {
        let workers = max(1, min(config.workers, config.projects.count))
        var started: [BackgroundThread] = []
        for worker in 0..<workers {
            let mine = config.projects.enumerated().filter { $0.offset % workers == worker }.map(\.element)
            started.append(try BackgroundThread { [self] in self.runWorker(mine, seed: UInt64(worker) &+ 1) })
        }
        if let interval = config.pushEverySeconds {
            started.append(try BackgroundThread { [self] in self.runPusher(every: interval) })
        }
        threads = started
    }

    /// Stops every thread and returns the totals.
    public func stop() -> LoadTotals {
        stopping.store(true, ordering: .sequentiallyConsistent)
        threads.forEach { $0.join() }
        threads.removeAll()
        return totals.withLock { $0 }
    }

    private var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Sleeps until `deadline` (monotonic ns) in short steps, so stop() is prompt.
    private func sleep(until deadline: UInt64) {
        while !isStopping {
            let now = Monotonic.nanoseconds()
            guard now < deadline else { return }
            usleep(UInt32(min(50_000, (deadline - now) / 1000)))
        }
    }

    // MARK: workers

    private func runWorker(_ projects: [String], seed: UInt64) {
        var local = LoadTotals()
        var rng = SplitMix(seed: seed)
        var connections: [String: (connection: BrokerConnection, used: Int)] = [:]
        let period = UInt64(1e9 / config.ratePerProject)
        var next = Monotonic.nanoseconds()
        while !isStopping {
            for project in projects where !isStopping {
                if let open = connections[project], open.used >= config.reconnectEvery { connections[project] = nil }
                if connections[project] == nil {
                    do {
                        connections[project] = (try BrokerConnection(path: config.socketPath(project), timeoutSeconds: 10), 0)
                    } catch {
                        noteFailure("connect \(project): \(error)", &local)
                        continue
                    }
                }
                connections[project]!.used += 1
                do {
                    try request(on: connections[project]!.connection, project: project, choice: rng.next() % 4, &local)
                } catch {
                    connections[project] = nil
                    noteFailure("\(project): \(error)", &local)
                }
            }
            next += period
            let now = Monotonic.nanoseconds()
            if next < now { next = now }   // running behind: do not try to catch up in a burst
            sleep(until: next)
        }
        connections.removeAll()
        let finished = local
        totals.withLock { $0.merge(finished) }
    }

    private func noteFailure(_ text: String, _ local: inout LoadTotals) {
        if config.tolerateDisconnects { local.disconnects += 1 } else { local.error(text) }
    }

    /// One request: get (half of them, a random allowed name), ping or info; checks the reply.
    private func request(on connection: BrokerConnection, project: String, choice: UInt64, _ local: inout LoadTotals) throws {
        switch choice {
        case 0, 1:
            let name = config.secrets.names[Int(choice &+ UInt64(local.gets)) % config.secrets.names.count]
            let floor = generations.current
            var reply = try connection.request(MarkerSet.getRequest(name))
            defer { reply.zeroize() }
            let ceiling = generations.latestStarted
            local.gets += 1
            guard reply.ok, let value = reply.string("value"), let generation = MarkerSet.generation(of: value) else {
                return local.error("\(project) get \(name): \(reply.code ?? "no value")")
            }
            if generation < floor || generation > ceiling || value != config.secrets.value(name, generation: generation) {
                local.error("\(project) get \(name): generation \(generation) outside \(floor)...\(ceiling) or wrong value")
            }
        case 2:
            let reply = try connection.request(op: "ping")
            local.pings += 1
            if !reply.ok || reply.string("project") != project { local.error("\(project) ping: \(reply.code ?? "wrong project")") }
        default:
            let reply = try connection.request(op: "info")
            local.infos += 1
            if !reply.ok || reply.tree["allowlist"]?.strings != config.secrets.names.sorted() {
                local.error("\(project) info: \(reply.code ?? "wrong allowlist")")
            }
        }
    }

    // MARK: pusher

    private func runPusher(every interval: Double) {
        var local = LoadTotals()
        var next = Monotonic.nanoseconds() + UInt64(interval * 1e9)
        while true {
            sleep(until: next)
            if isStopping { break }
            next += UInt64(interval * 1e9)
            let generation = generations.latestStarted + 1
            generations.begin(generation)
            do {
                let reply = try BrokerConnection(path: config.adminSocket, timeoutSeconds: 10)
                    .request(config.secrets.pushRequest(generation: generation))
                if reply.ok {
                    generations.commit(generation)
                    local.pushes += 1
                } else {
                    local.error("push \(generation): \(reply.code ?? "?")")
                }
            } catch {
                noteFailure("push \(generation): \(error)", &local)
            }
        }
        let finished = local
        totals.withLock { $0.merge(finished) }
    }
}

/// A tiny deterministic PRNG (SplitMix64): reproducible op mixes without Foundation.
public struct SplitMix {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
