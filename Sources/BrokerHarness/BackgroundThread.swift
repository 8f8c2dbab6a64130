import BrokerCore
import Glibc

/// A plain pthread running `body`, for tests and harnesses that need a second blocking
/// client next to the first (e.g. a pusher racing a reader).
///
/// The entry point is a global function, not a closure literal: a closure handed to
/// `pthread_create` from @MainActor code would inherit that isolation and trap (DESIGN.md §3).
public final class BackgroundThread {
    private let thread: pthread_t
    private var joined = false

    public init(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, backgroundThreadMain, context)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: result)
        }
        self.thread = thread
    }

    /// Waits for `body` to return. Idempotent.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}

private final class ThreadBody: @unchecked Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

private func backgroundThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
    return nil
}
