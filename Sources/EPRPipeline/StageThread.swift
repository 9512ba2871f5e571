import EPRCore
import Foundation
import Synchronization

/// A pipeline stage's own OS thread. Stages block in FFmpeg and OpenVINO calls, so they run on
/// dedicated threads rather than on Swift's cooperative pool.
final class StageThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let joined = Mutex(false)

    init(name: String, body: @escaping @Sendable () -> Void) {
        let done = finished
        let thread = Thread {
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Waits for the body to return; safe to call more than once.
    func join() {
        joined.withLock { joined in
            guard !joined else { return }
            finished.wait()
            joined = true
        }
    }
}

/// The first error any stage hits; the others see `failed` and wind down.
final class FailureLatch: Sendable {
    private let first = Mutex<EPRError?>(nil)

    func record(_ error: EPRError) {
        first.withLock { if $0 == nil { $0 = error } }
    }

    var error: EPRError? { first.withLock { $0 } }
}

/// Monotonic seconds, for stage timings.
@inline(__always) func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
