import EPRCore
import Foundation

/// A pipeline stage's own OS thread. Stages block in FFmpeg and OpenVINO calls, so they run on
/// dedicated threads rather than on Swift's cooperative pool.
final class StageThread: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let thread: Thread

    init(name: String, body: @escaping @Sendable () -> Void) {
        let done = finished
        thread = Thread {
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    private let joinLock = NSLock()
    private var joined = false

    /// Waits for the body to return; safe to call more than once.
    func join() {
        joinLock.lock(); defer { joinLock.unlock() }
        guard !joined else { return }
        finished.wait()
        joined = true
    }
}

/// The first error any stage hits; the others see `failed` and wind down.
final class FailureLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var first: EPRError?

    func record(_ error: EPRError) {
        lock.lock(); defer { lock.unlock() }
        if first == nil { first = error }
    }

    var error: EPRError? { lock.lock(); defer { lock.unlock() }; return first }
}

/// Monotonic seconds, for stage timings.
@inline(__always) func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
