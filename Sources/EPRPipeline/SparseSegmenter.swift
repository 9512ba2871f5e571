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
/// or reused as it is without `propagate`. With `bidirectional` (files, where latency does not
/// matter) a frame between also waits for the next inferred frame and takes the mask of the
/// nearer one: the earlier result carried forward, or the later one carried back (ties go
/// forward). A carried frame waits here until the results it needs are back: at most
/// (`runner.inFlight` + 1) x `interval` frames. One thread drives it.
final class SparseSegmenter<Envelope>: FrameMasker {
    typealias Output = MaskedFrame<Envelope>

    /// A frame waiting for its mask.
    private struct Pending {
        let envelope: Envelope
        let frame: VideoFrame
        let inferred: Bool
        /// Bidirectional, between inferred frames: follows the later frames' vectors back to this one.
        var back: MaskPropagator?
        /// The next inferred frame has come, so `back` maps it to this frame.
        var closed = false
    }

    private let runner: SegmentationRunner
    private let interval: Int
    private let propagate: Bool
    private let bidirectional: Bool
    private let frameWidth: Int
    private let frameHeight: Int
    private var propagator: MaskPropagator
    private var waiting: [Pending] = []
    private var results: [Segmentation] = []
    private var sinceInferred: Int

    init(runner: SegmentationRunner, interval: Int, propagate: Bool, bidirectional: Bool = false,
         frameWidth: Int, frameHeight: Int) {
        self.runner = runner
        self.interval = max(1, interval)
        self.propagate = propagate
        self.bidirectional = bidirectional && propagate && interval > 1
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        sinceInferred = self.interval
        propagator = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
    }

    /// Takes the next frame; returns the frames (this or earlier ones) whose masks are ready.
    func submit(_ envelope: Envelope, frame: VideoFrame) throws(EPRError) -> [Output] {
        let infer = sinceInferred >= interval
        sinceInferred = infer ? 1 : sinceInferred + 1
        var pending = Pending(envelope: envelope, frame: frame, inferred: infer)
        if bidirectional {
            for i in waiting.indices where waiting[i].back != nil && !waiting[i].closed {
                waiting[i].back!.advance(by: frame.motion)
                waiting[i].closed = infer
            }
            if !infer {
                var back = MaskPropagator(frameWidth: frameWidth, frameHeight: frameHeight)
                back.start(width: runner.labelSize.width, height: runner.labelSize.height, motion: frame.motion)
                pending.back = back
            }
        }
        waiting.append(pending)
        if infer { results += try runner.submit(frame) }
        return resolve(final: false)
    }

    /// Events come from live sources only, where frames are never held for a later mask.
    func flush() throws(EPRError) -> [Output] { try drain() }

    /// Waits for the network's outstanding results; returns every frame still waiting (those
    /// after the last inferred frame with the earlier mask carried forward).
    func drain() throws(EPRError) -> [Output] {
        results += try runner.drain()
        return resolve(final: true)
    }

    private func resolve(final: Bool) -> [Output] {
        var out: [Output] = []
        while let head = waiting.first {
            var result: Segmentation?
            var labels: LabelMap
            var age: Int
            if head.inferred {
                guard !results.isEmpty else { break }
                let fresh = results.removeFirst()
                propagator.reset(to: fresh.labels, motion: propagate ? head.frame.motion : nil)
                labels = fresh.labels
                result = fresh
                age = 0
            } else {
                // Bidirectional: wait for the next inferred frame's result, unless none is coming.
                let back = head.back.flatMap { head.closed ? $0 : nil }
                if head.back != nil, back == nil, !final { break }
                if back != nil, results.isEmpty { break }
                // The first frame is always inferred, so an earlier mask exists.
                guard let carried = propagator.advance(by: propagate ? head.frame.motion : nil) else { break }
                labels = carried
                age = propagator.age
                if let back, back.age < age {
                    labels = back.carriedBack(results[0].labels, fallback: carried)
                    age = back.age
                }
            }
            waiting.removeFirst()
            out.append(Output(envelope: head.envelope, frame: head.frame, labels: labels, age: age, result: result))
        }
        return out
    }
}
