import EPRCore
import EPRInference

/// A frame's mask, with the network's result that came back with it.
struct MaskedFrame<Envelope> {
    let envelope: Envelope
    let frame: VideoFrame
    let labels: LabelMap
    /// Frames since the network ran on the frame the mask comes from (0: its own).
    let age: Int
    /// A network result that came back with this frame: its own when `age` is 0; with
    /// `AdaptiveSegmenter` usually an earlier frame's, already carried to this one.
    let result: Segmentation?
}

/// Gives every frame a mask, in frame order (`SparseSegmenter`, `AdaptiveSegmenter`).
protocol FrameMasker<Envelope>: AnyObject {
    associatedtype Envelope
    /// Takes the next frame; returns the frames (this or earlier ones) whose masks are ready.
    func submit(_ envelope: Envelope, frame: VideoFrame) throws(EPRError) -> [MaskedFrame<Envelope>]
    /// Returns every frame still waiting, once the network is done with them; more frames may
    /// follow (an in-band event passes here, after the frames before it).
    func flush() throws(EPRError) -> [MaskedFrame<Envelope>]
    /// Returns every frame still waiting, once the network is done; the last call.
    func drain() throws(EPRError) -> [MaskedFrame<Envelope>]
}

/// Runs the network on every `interval`th frame and gives every frame a mask, in frame order: the
/// frames between get the latest network mask carried by their motion vectors (`MaskPropagator`),
/// or reused as it is without `propagate`. A carried frame waits here until the result it is
/// carried from is back: at most `runner.inFlight` x `interval` frames. One thread drives it.
final class SparseSegmenter<Envelope>: FrameMasker {
    typealias Output = MaskedFrame<Envelope>

    private let runner: SegmentationRunner
    private let interval: Int
    private let propagate: Bool
    private var propagator: MaskPropagator
    private var waiting: [(envelope: Envelope, frame: VideoFrame, inferred: Bool)] = []
    private var results: [Segmentation] = []
    private var sinceInferred: Int

    init(runner: SegmentationRunner, interval: Int, propagate: Bool, frameWidth: Int, frameHeight: Int) {
        self.runner = runner
        self.interval = max(1, interval)
        self.propagate = propagate
        sinceInferred = self.interval
        propagator = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
    }

    /// Takes the next frame; returns the frames (this or earlier ones) whose masks are ready.
    func submit(_ envelope: Envelope, frame: VideoFrame) throws(EPRError) -> [Output] {
        let infer = sinceInferred >= interval
        sinceInferred = infer ? 1 : sinceInferred + 1
        waiting.append((envelope, frame, infer))
        if infer { results += try runner.submit(frame) }
        return resolve()
    }

    func flush() throws(EPRError) -> [Output] { try drain() }

    /// Waits for the network's outstanding results; returns every frame still waiting.
    func drain() throws(EPRError) -> [Output] {
        results += try runner.drain()
        return resolve()
    }

    private func resolve() -> [Output] {
        var out: [Output] = []
        while let head = waiting.first {
            var result: Segmentation?
            let labels: LabelMap
            if head.inferred {
                guard !results.isEmpty else { break }
                let fresh = results.removeFirst()
                propagator.reset(to: fresh.labels)
                labels = fresh.labels
                result = fresh
            } else {
                // The first frame is always inferred, so an earlier mask exists.
                guard let carried = propagator.advance(by: propagate ? head.frame.motion : nil) else { break }
                labels = carried
            }
            waiting.removeFirst()
            out.append(Output(envelope: head.envelope, frame: head.frame, labels: labels, age: propagator.age, result: result))
        }
        return out
    }
}
