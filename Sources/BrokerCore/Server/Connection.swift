import CSeccomp

/// One accepted client connection and its buffers.
final class Connection {
    enum Endpoint: Equatable {
        case admin
        case project(String)
        /// A systemd unit's credential (SPEC §12): written, then closed; never read.
        case credentials

        /// `socket` field of `request.invalid`.
        var auditName: String {
            switch self {
            case .admin: return "admin"
            case .project(let name): return name
            case .credentials: return "credentials"
            }
        }
    }

    let token: UInt64
    let fd: Int32
    let endpoint: Endpoint
    let peer: PeerCredentials
    let lineLimit: Int
    let input = SecureBuffer(capacity: 4096)
    let output = SecureBuffer(capacity: 4096)
    /// Last completed request or output progress; idle and stalled-mid-line connections
    /// are closed when this is older than the idle timeout.
    var lastActivity: UInt64
    /// Its share of a wake-up ran out with complete lines buffered (`BrokerServer.backlog`).
    var onBacklog = false
    /// Close once the output is flushed (after payload_too_large, EOF).
    var closeAfterFlush = false
    /// The peer closed its side: no more input will come.
    var inputClosed = false
    /// Reading paused because too much output is waiting for a slow reader.
    var readPaused = false
    /// Where the newline scan resumes within the unconsumed input.
    var scanOffset = 0
    /// What epoll is watching now, to avoid redundant epoll_ctl calls.
    var interest: Epoll.Interest = .readable
    /// A `wait` held until the project's revision moves (never idle meanwhile).
    var waiting: PendingWait?

    init(token: UInt64, fd: Int32, endpoint: Endpoint, peer: PeerCredentials, now: UInt64) {
        self.token = token
        self.fd = fd
        self.endpoint = endpoint
        self.peer = peer
        self.lineLimit = endpoint == .admin ? WireLimits.adminLineBytes : WireLimits.projectLineBytes
        self.lastActivity = now
    }

    var projectName: String? {
        if case .project(let name) = endpoint { return name }
        return nil
    }
}

/// A registered project that is being served.
final class LiveProject {
    var record: ProjectRecord
    let socketPath: String
    private(set) var listenerFD: Int32
    let listenerToken: UInt64
    var manifest: Manifest
    var cache: ProjectCache
    var bucket: TokenBucket
    var connectionCount = 0
    /// What the project may see, as `info`/`wait` report it (assigned on first use).
    var revision = ""
    /// The manifest file as last compared with the pin (`status`, start, reload).
    var manifestFile = ManifestFileState.matchesPin
    /// The manifest file's digest as last computed, with the file's identity then.
    var knownManifestDigest: ManifestLoader.KnownDigest?
    /// What the last `manifest.changed` event reported, so one is written per new digest.
    var reportedManifestFile = ManifestFileState.matchesPin

    init(record: ProjectRecord, socketPath: String, listenerFD: Int32, listenerToken: UInt64,
         manifest: Manifest, cacheCeiling: ProjectCache.Limits, bucket: TokenBucket) {
        self.record = record
        self.socketPath = socketPath
        self.listenerFD = listenerFD
        self.listenerToken = listenerToken
        self.manifest = manifest
        self.cache = ProjectCache(limits: manifest.cache.capped(by: cacheCeiling))
        self.bucket = bucket
    }

    var name: String { record.name }

    /// Stops accepting (idempotent: the fd number may be reused once closed).
    func closeListener() {
        if listenerFD >= 0 { Libc.close(listenerFD) }
        listenerFD = -1
    }
}

/// The project's manifest file compared with the pinned one (SPEC §3.2).
enum ManifestFileState: Equatable {
    case matchesPin
    /// `digest` is nil when the file is missing or may not be read (symlink, FIFO, too large).
    case changed(digest: String?)
}
