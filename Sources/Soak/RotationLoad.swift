import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc

/// The rotation load (SPEC §10): every project holds a parked `wait` (and the first few a
/// running `sync`) while pushes go on; each push changes the secret of a random subset of
/// projects and repeats the others' values exactly. Counts missed changes (a changed project
/// whose wait is not answered, or whose sync file does not get the new value) and spurious
/// wake-ups (an unchanged project's wait answered: the broker answers waits before the push
/// reply, so anything readable then is spurious), and samples RSS and descriptors.
struct RotationLoad {
    let projects: Int
    let syncs: Int
    let rounds: Int

    struct Totals {
        var changes = 0
        var missed = 0
        var spurious = 0
        var syncChanges = 0
        var syncMissed = 0
        var rssFirst = 0
        var rssLast = 0
        var fdsFirst = 0
        var fdsLast = 0
    }

    func run(binary: String, arguments: [String]) throws -> Totals {
        let broker = try BrokerProcess.launch(binary: binary, arguments: arguments + BrokerProcess.unlimitedRate)
        guard let pid = broker.pid else { throw HarnessError("broker not running") }
        let parent = FileSystem.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"
        let files = try TempDirectory(prefix: "soakrot", in: parent)
        let names = (0..<projects).map { "r\($0)" }
        for (index, name) in names.enumerated() {
            try broker.registerProject(name, secrets: [], manifest: SyncFollower.manifest(name: name, secret: "k\(index)", path: files.file("\(name).conf")))
        }
        var values = (0..<projects).map { SecretMarker.value("k\($0)_0") }
        func pushAll() throws {
            try broker.push(values.enumerated().map { ("k\($0.offset)", $0.element) })
        }
        try pushAll()
        let followers = try (0..<min(syncs, projects)).map { index in
            try SyncFollower(binary: binary, socket: broker.projectSocket(names[index]), filePath: files.file("\(names[index]).conf"),
                             stderrPath: files.file("sync\(index).stderr"))
        }
        for (index, follower) in followers.enumerated() where !eventually(10, { follower.holds(values[index]) }) {
            throw HarnessError("sync \(index) did not deliver the first value")
        }
        // One parked wait per project, on its own connection.
        var connections: [BrokerConnection] = []
        var revisions: [String] = []
        for name in names {
            let connection = try BrokerConnection(path: broker.projectSocket(name), timeoutSeconds: 30)
            guard let revision = try connection.request(op: "info").string("revision") else { throw HarnessError("info has no revision") }
            try connection.send(Self.wait(revision))
            connections.append(connection)
            revisions.append(revision)
        }
        var totals = Totals()
        var generator = SystemRandomNumberGenerator()
        for round in 1...rounds {
            var changed = Set<Int>()
            for index in 0..<projects where Int.random(in: 0..<4, using: &generator) == 0 { changed.insert(index) }
            for index in changed { values[index] = SecretMarker.value("k\(index)_\(round)") }
            try pushAll()
            for index in 0..<projects {
                let connection = connections[index]
                var poller = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
                if changed.contains(index) {
                    totals.changes += 1
                    guard poll(&poller, 1, 2_000) > 0, let reply = try? connection.receive(), reply.document["changed"] == .bool(true),
                          let revision = reply.string("revision") else {
                        totals.missed += 1
                        continue
                    }
                    revisions[index] = revision
                    try connection.send(Self.wait(revision))
                } else if poll(&poller, 1, 0) > 0 {
                    totals.spurious += 1
                    if let reply = try? connection.receive(), let revision = reply.string("revision") { revisions[index] = revision }
                    try connection.send(Self.wait(revisions[index]))
                }
            }
            for (index, follower) in followers.enumerated() where changed.contains(index) {
                totals.syncChanges += 1
                if !eventually(2, { follower.holds(values[index]) }) { totals.syncMissed += 1 }
            }
            if round == max(1, rounds / 4) || round == rounds, let sample = ProcReader.sample(pid) {
                // A follower's fetch connection may close a moment after its file changed:
                // descriptors are counted when settled (the fewest over 200 ms), RSS as sampled.
                let fds = Self.settledDescriptors(pid) ?? sample.fds
                if round == max(1, rounds / 4) { totals.rssFirst = sample.rssKiB; totals.fdsFirst = fds }
                if round == rounds { totals.rssLast = sample.rssKiB; totals.fdsLast = fds }
            }
        }
        for follower in followers { follower.stop() }
        connections.removeAll()
        try broker.stop()
        return totals
    }

    /// The fewest open descriptors of `pid` over 20 samples 10 ms apart: transient client
    /// connections only ever add to the count.
    static func settledDescriptors(_ pid: pid_t) -> Int? {
        var fewest: Int?
        for _ in 0..<20 {
            if let sample = ProcReader.sample(pid) { fewest = min(fewest ?? sample.fds, sample.fds) }
            usleep(10_000)
        }
        return fewest
    }

    static func wait(_ revision: String) -> [UInt8] {
        Array("{\"op\":\"wait\",\"revision\":\"\(revision)\",\"timeout_seconds\":3600}".utf8)
    }
}

/// Polls `condition` every 2 ms for up to `seconds`.
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Monotonic.nanoseconds() + UInt64(seconds * 1e9)
    while !condition() {
        if Monotonic.nanoseconds() >= deadline { return false }
        usleep(2_000)
    }
    return true
}
