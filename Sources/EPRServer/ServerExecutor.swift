import Foundation

/// The threads the HTTP server's tasks run on. The server is started and stopped from the
/// pipeline's (blocking) threads, and Swift's cooperative pool has one thread per core: blocking
/// code elsewhere in the process (a stage, a test waiting on a client) could take every one of
/// them and leave the server unanswered. Its own threads keep it answering whatever else runs.
/// Thread-safe: the job list is guarded by `condition`.
final class ServerExecutor: TaskExecutor, @unchecked Sendable {
    /// Two threads, shared by every server of the process (they wait idle when nothing is served).
    static let shared = ServerExecutor(threads: 2)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    private init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in run() }
            thread.name = "eprstream-http-\(i)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
