import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import EPROverlay
import Foundation

// The stages of `eprstream run`, in graph order. Each frame travels in an envelope that carries
// its own timing metadata end to end: no stage rebuilds it from sequence numbers.

/// A decoded frame and when it left the decoder (for end-to-end latency).
struct DecodedFrame: Sendable {
    let frame: VideoFrame
    let decodedAt: Double
    /// Live sources that tell capture times: when the frame was captured, on the same clock.
    var capturedAt: Double? = nil
}

/// A frame with its mask (the network's own, or carried to it), ready to blend.
struct SegmentedFrame: Sendable {
    let frame: VideoFrame
    let labels: LabelMap
    let decodedAt: Double
    var capturedAt: Double? = nil
    /// Frames since the network ran (0: its own mask).
    var maskAge = 0
}

/// An annotated frame ready to encode.
struct AnnotatedFrame: Sendable {
    let frame: VideoFrame
    let decodedAt: Double
    var capturedAt: Double? = nil
    var maskAge = 0
    /// Class shares of its mask, when the run writes metadata.
    var shares: FrameShares? = nil
}

/// What the sink hands each further output of a tee (the browser preview).
public enum OutputItem: Sendable {
    case video(VideoFrame)
    case audio(AudioPacket)
}

typealias MuxQueue = InterleavingQueue<AnnotatedFrame, AudioPacket>

/// Source -> decoded frames, and audio straight to the muxer's queue. Files block when the
/// pipeline is behind; a live source's frame queue drops the oldest instead.
///
/// The source is not thread-safe: only `run()`, on the stage's thread, touches it; `cancel()`
/// reaches only `LiveSource.stop()`, which any thread may call.
final class SourceStage: PipelineStage, @unchecked Sendable {
    let name = "source"
    private let source: InputSource
    private let frames: BoundedQueue<DecodedFrame>
    private let mux: MuxQueue
    private let stats: RunStatistics
    /// Frames to decode (files with --max-frames); a live source stops on the sink's count instead.
    private let frameLimit: Int?
    /// Monotonic time at which to stop (--duration).
    private let stopAt: Double?
    /// A planned end (Ctrl-C, --max-frames on a live source).
    private let shouldStop: @Sendable () -> Bool

    init(source: InputSource, frames: BoundedQueue<DecodedFrame>, mux: MuxQueue, stats: RunStatistics,
         frameLimit: Int?, stopAt: Double?, shouldStop: @escaping @Sendable () -> Bool) {
        self.source = source
        self.frames = frames
        self.mux = mux
        self.stats = stats
        self.frameLimit = frameLimit
        self.stopAt = stopAt
        self.shouldStop = shouldStop
    }

    var inputs: [any StageQueue] { [] }
    var outputs: [any StageQueue] { [frames, mux] }

    func run() throws(EPRError) {
        let live = source.live
        var count = 0
        var videoEnd: Double?
        var reachedEnd = false
        while !shouldStop(), frameLimit.map({ count < $0 }) ?? true {
            if let stopAt, now() >= stopAt { break }
            let started = now()
            guard let item = try source.next() else { reachedEnd = true; break }
            switch item {
            case .video(let frame):
                videoEnd = frame.seconds + Double(frame.duration) * av_q2d(frame.timeBase)
                let decodedAt = now()
                if live == nil { stats.record(.decode, decodedAt - started) }  // live: mostly network wait
                stats.frameDecoded()
                count += 1
                let capturedAt = live?.lastCaptureLag.map { decodedAt - $0 }
                if !frames.push(DecodedFrame(frame: frame, decodedAt: decodedAt, capturedAt: capturedAt)) { return }
            case .audio(let packet):
                if !mux.pushAudio(packet) { return }
            }
        }
        // A file stopped early: its audio ends with the last frame (the demuxer read ahead).
        if live == nil, !reachedEnd, let videoEnd { mux.cutAudio(at: videoEnd) }
        frames.close()
        mux.endAudio()
    }

    /// A live source may sit in its reconnect loop, which no queue reaches.
    func cancel() { source.live?.stop() }
}

/// Decoded frames -> frames with their masks (preprocess + asynchronous inference, in order). With
/// `interval` above 1 the network runs on every `interval`th frame and the frames between get its
/// mask carried to them (`SparseSegmenter`); every frame goes on, in order.
final class InferenceStage: PipelineStage {
    let name = "inference"
    private let frames: BoundedQueue<DecodedFrame>
    private let segmented: BoundedQueue<SegmentedFrame>
    private let stats: RunStatistics
    private let runner: SegmentationRunner
    private let interval: Int
    private let propagate: Bool
    private let frameSize: (width: Int, height: Int)

    init(runner: SegmentationRunner, frames: BoundedQueue<DecodedFrame>, segmented: BoundedQueue<SegmentedFrame>,
         stats: RunStatistics, interval: Int = 1, propagate: Bool = true, frameWidth: Int, frameHeight: Int) {
        self.runner = runner
        self.frames = frames
        self.segmented = segmented
        self.stats = stats
        self.interval = interval
        self.propagate = propagate
        frameSize = (frameWidth, frameHeight)
    }

    var inputs: [any StageQueue] { [frames] }
    var outputs: [any StageQueue] { [segmented] }

    func run() throws(EPRError) {
        // Mutable state of this thread alone.
        let segmenter = SparseSegmenter<DecodedFrame>(runner: runner, interval: interval, propagate: propagate,
                                                      frameWidth: frameSize.width, frameHeight: frameSize.height)
        func forward(_ ready: [SparseSegmenter<DecodedFrame>.Output]) -> Bool {
            for item in ready {
                if let result = item.result {
                    stats.record(.preprocess, result.preprocessSeconds)
                    stats.record(.infer, result.inferSeconds)
                    stats.record(.postprocess, result.postprocessSeconds)
                }
                stats.maskDelivered(age: item.age)
                let e = item.envelope
                if !segmented.push(SegmentedFrame(frame: e.frame, labels: item.labels, decodedAt: e.decodedAt,
                                                  capturedAt: e.capturedAt, maskAge: item.age)) { return false }
            }
            return true
        }
        while let item = frames.pop() {
            guard forward(try segmenter.submit(item, frame: item.frame)) else { return }
        }
        guard !frames.isCancelled else { return }
        guard forward(try segmenter.drain()) else { return }
        segmented.close()
    }
}

/// Frames with masks -> annotated frames (blend, legend, FPS and latency line).
final class ComposeStage: PipelineStage {
    let name = "compose"
    private let compositor: Compositor
    private let segmented: BoundedQueue<SegmentedFrame>
    private let mux: MuxQueue
    private let stats: RunStatistics
    /// With --metadata: each mask's class shares, counted here before the blend.
    private let shareCounter: ClassShareCounter?

    init(compositor: Compositor, segmented: BoundedQueue<SegmentedFrame>, mux: MuxQueue, stats: RunStatistics,
         shareCounter: ClassShareCounter? = nil) {
        self.compositor = compositor
        self.segmented = segmented
        self.mux = mux
        self.stats = stats
        self.shareCounter = shareCounter
    }

    var inputs: [any StageQueue] { [segmented] }
    var outputs: [any StageQueue] { [mux] }

    func run() throws(EPRError) {
        var meter = RateMeter()
        while let item = segmented.pop() {
            let started = now()
            let frame = item.frame
            let overlay = OverlayStats(fps: meter.tick(at: started), latencyMs: (started - item.decodedAt) * 1000,
                                       frameIndex: frame.sequence)
            // Side-by-side composes into a new, wider frame; the other modes draw in place.
            let composed = try compositor.compose(frame, labels: item.labels, stats: overlay)
            let shares = shareCounter?.shares(item.labels)
            stats.record(.compose, now() - started)
            if !mux.pushVideo(AnnotatedFrame(frame: composed, decodedAt: item.decodedAt, capturedAt: item.capturedAt,
                                             maskAge: item.maskAge, shares: shares)) { return }
        }
        mux.endVideo()
    }
}

/// Audio and annotated frames, in timestamp order -> the outputs: encodes and muxes into the
/// first output on this thread and hands each further output its own copy through its own
/// bounded queue (`OutputStage`). For a live source it also fills outages with notice frames at
/// the stream's rate, and ends the run after --max-frames or --duration.
///
/// Not thread-safe inside: `run()` alone touches the outputs and the live state; `cancel()` only
/// aborts the network deadline, which any thread may do.
final class SinkStage: PipelineStage, @unchecked Sendable {
    let name = "sink"
    private let mux: MuxQueue
    private let tee: TeeOutput
    private var liveOutput: LiveOutput?
    private let stats: RunStatistics
    private let maxFrames: Int?
    private let stopAt: Double?
    private let runStarted: Double
    private let interrupt: InterruptDeadline?
    /// Ends the source (a planned stop of a live run).
    private let endRun: @Sendable () -> Void
    private let droppedFrames: @Sendable () -> Int
    private let progress: (@Sendable (LiveStatus?) -> Void)?
    /// With --metadata: one JSON line per frame written.
    private let metadata: MetadataWriter?
    private var lastReport = 0.0
    /// Read after the run (the scheduler's join orders these reads after the writes).
    private(set) var firstFrameAt: Double?
    private(set) var glassToGlass = LatencyHistogram()
    var live: LiveOutput? { liveOutput }

    init(mux: MuxQueue, tee: TeeOutput, liveOutput: LiveOutput?, stats: RunStatistics, maxFrames: Int?,
         stopAt: Double?, runStarted: Double, interrupt: InterruptDeadline?,
         endRun: @escaping @Sendable () -> Void, droppedFrames: @escaping @Sendable () -> Int,
         progress: (@Sendable (LiveStatus?) -> Void)?, metadata: MetadataWriter? = nil) {
        self.mux = mux
        self.tee = tee
        self.liveOutput = liveOutput
        self.stats = stats
        self.maxFrames = maxFrames
        self.stopAt = stopAt
        self.runStarted = runStarted
        self.interrupt = interrupt
        self.endRun = endRun
        self.droppedFrames = droppedFrames
        self.progress = progress
        self.metadata = metadata
    }

    var inputs: [any StageQueue] { [mux] }
    var outputs: [any StageQueue] { tee.branches }

    func run() throws(EPRError) {
        while true {
            let next: Interleaved<AnnotatedFrame, AudioPacket>
            if let current = liveOutput {
                switch mux.pop(timeout: current.frameInterval) {
                case .item(let item): next = item
                case .closed: tee.endBranches(); return
                case .timedOut:
                    try liveOutput?.fillIfOffline(sink: tee)
                    if let stopAt, now() >= stopAt { endRun() }
                    report(at: now())
                    continue
                }
            } else {
                guard let item = mux.pop() else { tee.endBranches(); return }
                next = item
            }
            switch next {
            case .audio(let packet): try tee.write(packet)
            case .video(let item): try write(item)
            }
        }
    }

    private func write(_ item: AnnotatedFrame) throws(EPRError) {
        let live = liveOutput != nil
        if live, let limit = maxFrames, stats.framesWritten >= limit { return }  // in flight after the stop
        if liveOutput?.accepts(item.frame) == false { return }
        let t0 = now()
        try tee.write(item.frame)
        let t1 = now()
        stats.record(.encode, t1 - t0)
        stats.record(.endToEnd, t1 - item.decodedAt)
        if let captured = item.capturedAt { glassToGlass.record(t1 - captured) }
        stats.frameWritten()
        if let metadata, let shares = item.shares {
            try metadata.write(pts: item.frame.seconds, latency: t1 - item.decodedAt, maskAge: item.maskAge, shares: shares)
        }
        if firstFrameAt == nil { firstFrameAt = t1 - runStarted }
        liveOutput?.wrote(item.frame, latency: t1 - item.decodedAt, droppedSoFar: droppedFrames())
        if live {
            if let limit = maxFrames, stats.framesWritten >= limit { endRun() }
            if let stopAt, t1 >= stopAt { endRun() }
        }
        report(at: t1)
    }

    private func report(at t: Double) {
        guard let progress, t - lastReport >= 0.5 else { return }
        lastReport = t
        progress(liveOutput?.status(dropped: droppedFrames()))
    }

    /// A network write blocked on a frozen server returns at once.
    func cancel() { interrupt?.abort() }
}

/// One further output of a tee (the browser preview) on its own thread, fed through its own
/// bounded queue that drops the oldest frame when the output falls behind: a slow or blocked one
/// never delays the recording or the others.
public final class OutputStage: PipelineStage, @unchecked Sendable {
    public let name: String
    /// Touched by `run()` only, until the run is over.
    private let output: any VideoOutput
    private let queue: BoundedQueue<OutputItem>

    init(name: String, output: any VideoOutput, queue: BoundedQueue<OutputItem>) {
        self.name = name
        self.output = output
        self.queue = queue
    }

    public var inputs: [any StageQueue] { [queue] }
    public var outputs: [any StageQueue] { [] }

    public func run() throws(EPRError) {
        while let item = queue.pop() {
            switch item {
            case .video(let frame): try output.write(frame)
            case .audio(let packet): try output.write(packet)
            }
        }
    }
}
