import CFFmpeg
import EPRCore
import EPRMedia
import EPRPipeline
import Foundation
import Testing

// The scheduler with stub stages: failures, cancellation and tee outputs, each bounded by a time
// limit far above what the work needs (a hang fails the test instead of blocking the suite).

/// Runs `scheduler` on its own thread; the error it threw, or a test failure when it has not
/// returned within `timeout` seconds.
private func runToEnd(_ scheduler: Scheduler, timeout: Double = 20) -> EPRError? {
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Thread {
        do throws(EPRError) { try scheduler.run() } catch { outcome.error = error }
        done.signal()
    }.start()
    guard done.wait(timeout: .now() + timeout) == .success else {
        Issue.record("the run did not end within \(timeout) s")
        return nil
    }
    return outcome.error
}

private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: EPRError?
    var error: EPRError? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// A one-shot event another thread can wait for.
private final class Event: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func signal() { semaphore.signal() }
    func wait(_ timeout: Double = 20) -> Bool { semaphore.wait(timeout: .now() + timeout) == .success }
}

/// Produces numbers without end (a source), failing after `failAfter` items if set.
private final class Producer: PipelineStage {
    let name = "producer"
    let out: BoundedQueue<Int>
    let failAfter: Int?
    init(_ out: BoundedQueue<Int>, failAfter: Int? = nil) { self.out = out; self.failAfter = failAfter }
    var inputs: [any StageQueue] { [] }
    var outputs: [any StageQueue] { [out] }
    func run() throws(EPRError) {
        var i = 0
        while true {
            if i == failAfter { throw EPRError(.input, "producer failed") }
            guard out.push(i) else { return }
            i += 1
        }
    }
}

/// Passes items on (a filter), failing after `failAfter` items if set.
private final class Relay: PipelineStage {
    let name = "relay"
    let input: BoundedQueue<Int>, out: BoundedQueue<Int>
    let failAfter: Int?
    init(_ input: BoundedQueue<Int>, _ out: BoundedQueue<Int>, failAfter: Int? = nil) {
        self.input = input; self.out = out; self.failAfter = failAfter
    }
    var inputs: [any StageQueue] { [input] }
    var outputs: [any StageQueue] { [out] }
    func run() throws(EPRError) {
        var seen = 0
        while let item = input.pop() {
            if seen == failAfter { throw EPRError(.model, "relay failed") }
            seen += 1
            guard out.push(item) else { return }
        }
        out.close()
    }
}

/// Consumes items (a sink), failing after `failAfter` items if set.
private final class Consumer: PipelineStage {
    let name = "consumer"
    let input: BoundedQueue<Int>
    let failAfter: Int?
    init(_ input: BoundedQueue<Int>, failAfter: Int? = nil) { self.input = input; self.failAfter = failAfter }
    var inputs: [any StageQueue] { [input] }
    var outputs: [any StageQueue] { [] }
    func run() throws(EPRError) {
        var seen = 0
        while input.pop() != nil {
            if seen == failAfter { throw EPRError(.output, "consumer failed") }
            seen += 1
        }
    }
}

@Suite struct SchedulerTests {
    @Test(arguments: [0, 1, 2])
    func aFailureInAnyStageEndsTheRunWithThatStagesError(failing: Int) {
        let scheduler = Scheduler()
        let a = scheduler.queue(BoundedQueue<Int>(capacity: 2)), b = scheduler.queue(BoundedQueue<Int>(capacity: 2))
        scheduler.add(Producer(a, failAfter: failing == 0 ? 50 : nil))
        scheduler.add(Relay(a, b, failAfter: failing == 1 ? 50 : nil))
        scheduler.add(Consumer(b, failAfter: failing == 2 ? 50 : nil))
        let error = runToEnd(scheduler)
        #expect(error?.message == ["producer failed", "relay failed", "consumer failed"][failing])
    }

    /// The queues wake a stage blocked in a push and one blocked in a pop; `cancel()` reaches one
    /// blocked outside any queue (a live source's reconnect loop, the hang of issue 12).
    @Test func cancelReachesStagesBlockedInPushInPopAndOutsideAnyQueue() {
        final class BlockedInPush: PipelineStage {
            let name = "push"
            let out: BoundedQueue<Int>
            let blocking = Event(), returned = Event()
            init(_ out: BoundedQueue<Int>) { self.out = out }
            var inputs: [any StageQueue] { [] }
            var outputs: [any StageQueue] { [out] }
            func run() throws(EPRError) {
                out.push(0)            // fills the queue: nobody pops it
                blocking.signal()
                _ = out.push(1)
                returned.signal()
            }
        }
        final class BlockedInPop: PipelineStage {
            let name = "pop"
            let full: BoundedQueue<Int>, never: BoundedQueue<Int>
            let blocking = Event(), returned = Event()
            init(_ full: BoundedQueue<Int>, _ never: BoundedQueue<Int>) { self.full = full; self.never = never }
            var inputs: [any StageQueue] { [full, never] }
            var outputs: [any StageQueue] { [] }
            func run() throws(EPRError) {
                blocking.signal()
                _ = never.pop()
                returned.signal()
            }
        }
        final class Reconnecting: PipelineStage {
            let name = "reconnecting"
            let never: BoundedQueue<Int>
            let blocking = Event(), stop = Event()
            init(_ never: BoundedQueue<Int>) { self.never = never }
            var inputs: [any StageQueue] { [] }
            var outputs: [any StageQueue] { [never] }
            func run() throws(EPRError) {
                blocking.signal()
                while !stop.wait(3600) {}   // retries until stopped, like LiveSource.next()
            }
            func cancel() { stop.signal() }
        }
        final class Failing: PipelineStage {
            let name = "failing"
            let ready: [Event]
            init(after ready: [Event]) { self.ready = ready }
            var inputs: [any StageQueue] { [] }
            var outputs: [any StageQueue] { [] }
            func run() throws(EPRError) {
                for event in ready { _ = event.wait() }
                throw EPRError(.output, "cannot write out.mp4: disk full")
            }
        }
        let scheduler = Scheduler()
        let full = scheduler.queue(BoundedQueue<Int>(capacity: 1)), never = scheduler.queue(BoundedQueue<Int>(capacity: 1))
        let pusher = BlockedInPush(full), popper = BlockedInPop(full, never), source = Reconnecting(never)
        scheduler.add(pusher)
        scheduler.add(popper)
        scheduler.add(source)
        scheduler.add(Failing(after: [pusher.blocking, popper.blocking, source.blocking]))
        let error = runToEnd(scheduler)
        #expect(error?.message == "cannot write out.mp4: disk full")
        #expect(pusher.returned.wait(0) && popper.returned.wait(0))
    }

    /// Nothing starts before the graph is valid: a stage that uses a queue the scheduler does not
    /// own (which a failure could not cancel) is refused before any thread runs.
    @Test func anInvalidGraphStartsNoThread() {
        final class Counting: PipelineStage {
            let name = "counting"
            let out: BoundedQueue<Int>
            let started = Event()
            init(_ out: BoundedQueue<Int>) { self.out = out }
            var inputs: [any StageQueue] { [] }
            var outputs: [any StageQueue] { [out] }
            func run() throws(EPRError) { started.signal() }
        }
        let scheduler = Scheduler()
        let owned = scheduler.queue(BoundedQueue<Int>(capacity: 1))
        let stray = BoundedQueue<Int>(capacity: 1)
        let first = Counting(owned)
        scheduler.add(first)
        scheduler.add(Consumer(owned))
        scheduler.add(Consumer(stray))
        let error = runToEnd(scheduler)
        #expect(error?.message.contains("does not own") == true, "\(String(describing: error))")
        #expect(!first.started.wait(0))   // run() joins every thread it started before it returns
    }

    /// A further output of a tee that blocks (a stuck viewer, a frozen server) neither slows nor
    /// stops the first: it loses its oldest frames instead, counted in the warnings.
    @Test func aBlockedTeeOutputDoesNotSlowItsSibling() throws {
        final class Recording: VideoOutput {
            private(set) var framesWritten = 0
            var warnings: [String] { [] }
            func write(_ frame: VideoFrame) throws(EPRError) { framesWritten += 1 }
            func write(_ audio: AudioPacket) throws(EPRError) {}
            func finish() throws(EPRError) {}
            func abort() {}
        }
        final class Stuck: VideoOutput, @unchecked Sendable {
            let entered = Event(), release = Event()
            private(set) var framesWritten = 0
            var warnings: [String] { [] }
            func write(_ frame: VideoFrame) throws(EPRError) {
                if framesWritten == 0 { entered.signal(); _ = release.wait() }
                framesWritten += 1
            }
            func write(_ audio: AudioPacket) throws(EPRError) {}
            func finish() throws(EPRError) {}
            func abort() {}
        }
        final class Writer: PipelineStage, @unchecked Sendable {
            let name = "writer"
            let tee: TeeOutput
            let stuck: Stuck
            let done = Event()
            init(_ tee: TeeOutput, _ stuck: Stuck) { self.tee = tee; self.stuck = stuck }
            var inputs: [any StageQueue] { [] }
            var outputs: [any StageQueue] { tee.branches }
            func run() throws(EPRError) {
                for i in 0..<100 {
                    guard let f = av_frame_alloc() else { throw EPRError(.internalFailure, "no frame") }
                    try tee.write(VideoFrame(taking: f, sequence: i, pts: Int64(i), timeBase: AVRational(num: 1, den: 25), duration: 1))
                    if i == 0 { _ = stuck.entered.wait() }   // the sibling is now stuck in its first frame
                }
                done.signal()
                tee.endBranches()
            }
        }
        let recording = Recording(), stuck = Stuck()
        let tee = TeeOutput([recording, stuck])
        let scheduler = Scheduler()
        tee.branches.forEach { scheduler.queue($0) }
        let writer = Writer(tee, stuck)
        scheduler.add(writer)
        tee.branchStages().forEach { scheduler.add($0) }
        let outcome = Outcome()
        let ended = Event()
        Thread {
            do throws(EPRError) { try scheduler.run() } catch { outcome.error = error }
            ended.signal()
        }.start()
        // All 100 frames reach the recording while its sibling is still stuck in frame 0.
        #expect(writer.done.wait())
        #expect(recording.framesWritten == 100)
        stuck.release.signal()
        #expect(ended.wait())
        #expect(outcome.error == nil)
        #expect(stuck.framesWritten == 1 + TeeOutput.branchCapacity)
        #expect(tee.warnings.contains { $0.contains("\(99 - TeeOutput.branchCapacity) frame(s) skipped") }, "\(tee.warnings)")
    }
}
