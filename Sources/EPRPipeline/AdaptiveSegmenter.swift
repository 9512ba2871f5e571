import EPRCore
import EPRInference
import Foundation

/// `--infer-every auto`: the network runs as often as the machine allows, and no frame waits for
/// it. A worker thread runs one frame at a time; each frame, the driving thread hands it the
/// frame if it is idle, and every frame goes on at once with the freshest result carried to it
/// by the motion vectors since (`FreshestMask`). Only the first frame waits, for the first mask.
/// How often the network ran depends on the machine; which frames are output, in what order and
/// at what timestamps does not.
final class AdaptiveSegmenter<Envelope>: FrameMasker {
    typealias Output = MaskedFrame<Envelope>

    private let worker: InferenceWorker
    private var masks: FreshestMask

    init(runner: SegmentationRunner, propagate: Bool, frameWidth: Int, frameHeight: Int) {
        worker = InferenceWorker(runner: runner)
        masks = FreshestMask(frameWidth: frameWidth, frameHeight: frameHeight, propagate: propagate)
    }

    deinit { worker.stop() }

    func submit(_ envelope: Envelope, frame: VideoFrame) throws(EPRError) -> [Output] {
        masks.advance(by: frame.motion)
        var arrived: Segmentation? = try worker.take()
        if let arrived { masks.networkFinished(arrived.labels) }
        if !masks.networkBusy {
            worker.start(frame)
            masks.networkStarted()
        }
        if masks.mask == nil {
            // The first frame: nothing to carry yet.
            let first = try worker.wait()
            masks.networkFinished(first.labels)
            arrived = first
        }
        guard let labels = masks.mask else { return [] }
        return [Output(envelope: envelope, frame: frame, labels: labels, age: masks.age, result: arrived)]
    }

    /// Every frame went on in `submit`; the run still in progress is not waited for.
    /// No frame waits here (each leaves with the freshest mask), so there is nothing to flush; the
    /// worker keeps its run going.
    func flush() throws(EPRError) -> [Output] { [] }

    func drain() throws(EPRError) -> [Output] {
        worker.stop()
        return []
    }
}

/// One network run at a time on its own thread. State is guarded by `condition`.
final class InferenceWorker: @unchecked Sendable {
    private let runner: SegmentationRunner
    private let condition = NSCondition()
    private var job: VideoFrame?
    private var result: Segmentation?
    private var failure: EPRError?
    private var stopping = false
    private var thread: StageThread?

    init(runner: SegmentationRunner) {
        self.runner = runner
        thread = StageThread(name: "inference worker") { [self] in loop() }
    }

    /// Runs the network on `frame` (the worker must be idle: no job, no result waiting).
    func start(_ frame: VideoFrame) {
        condition.lock(); defer { condition.unlock() }
        precondition(job == nil && result == nil, "the worker is busy")
        job = frame
        condition.broadcast()
    }

    /// The finished result, if any (not waiting); the run's error, if it failed.
    func take() throws(EPRError) -> Segmentation? {
        condition.lock(); defer { condition.unlock() }
        if let failure { throw failure }
        defer { result = nil }
        return result
    }

    /// Waits for the result of the job started.
    func wait() throws(EPRError) -> Segmentation {
        condition.lock(); defer { condition.unlock() }
        while result == nil && failure == nil { condition.wait() }
        if let failure { throw failure }
        defer { result = nil }
        return result!
    }

    /// Ends the thread once the run in progress is done; safe to call more than once.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        thread?.join()
    }

    private func loop() {
        while true {
            condition.lock()
            while job == nil && !stopping { condition.wait() }
            guard !stopping, let frame = job else { condition.unlock(); return }
            condition.unlock()
            let outcome: Result<Segmentation?, EPRError>
            do throws(EPRError) {
                // One request at a time: submit starts it, drain waits for it.
                let early = try runner.submit(frame)
                outcome = .success((early + (try runner.drain())).last)
            } catch {
                outcome = .failure(error)
            }
            condition.lock()
            job = nil
            switch outcome {
            case .success(let segmentation?): result = segmentation
            case .success(nil): failure = EPRError(.internalFailure, "the network returned no result")
            case .failure(let error): failure = error
            }
            condition.broadcast()
            condition.unlock()
        }
    }
}
