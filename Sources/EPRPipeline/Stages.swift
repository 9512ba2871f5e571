import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import EPROverlay
import Foundation
import Synchronization

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
    /// When the network skips frames: its runs per second and this mask's age, for the stats line.
    var inference: (perSecond: Double, maskAge: Int)? = nil
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

/// A live source's connection changes. They travel in band with the frames, source to sink
/// (`Flow.event`), so that the sink sees each in its place among the frames.
enum SourceEvent: Sendable, Equatable {
    /// First frames of the run.
    case online
    /// The stream ended or failed; reconnecting.
    case offline
    /// The source sent nothing for the stall timeout; reconnecting.
    case stalled
    /// Frames flow again after an outage.
    case reconnected
}

/// What the queues between the source and the sink carry: an item, or a source event at `time`
/// (seconds on the frames' clock, for the muxer's interleaving).
enum Flow<Item: Sendable>: Sendable {
    case item(Item)
    case event(SourceEvent, time: Double)

    var isEvent: Bool { if case .event = self { true } else { false } }
}

/// Hands the events a live source reports (on the thread that reads it: the source stage's) to
/// the source stage, which puts them into its frame queue.
final class SourceEvents: Sendable {
    private let target = Mutex<(@Sendable (SourceEvent) -> Void)?>(nil)

    func deliver(to target: @escaping @Sendable (SourceEvent) -> Void) { self.target.withLock { $0 = target } }

    func send(_ event: SourceEvent) {
        let target = self.target.withLock { $0 }
        target?(event)
    }
}

/// What the sink hands each further output of a tee (the browser preview).
public enum OutputItem: Sendable {
    case video(VideoFrame)
    case audio(AudioPacket)
}

typealias FrameQueue = BoundedQueue<Flow<DecodedFrame>>
typealias SegmentedQueue = BoundedQueue<Flow<SegmentedFrame>>
typealias MuxQueue = InterleavingQueue<Flow<AnnotatedFrame>, AudioPacket>

/// Source -> decoded frames, and audio straight to the muxer's queue. Files block when the
/// pipeline is behind; a live source's frame queue drops the oldest frame instead (never one of
/// the connection events it puts among them).
// @unchecked: `source` (not thread-safe) is used by run() alone, on this stage's thread between
// the scheduler's start and join; cancel() calls only the thread-safe LiveSource.stop().
final class SourceStage: PipelineStage, @unchecked Sendable {
    let name = "source"
    private let source: InputSource
    private let events: SourceEvents?
    private let stopLive: (@Sendable () -> Void)?
    private let frames: FrameQueue
    private let mux: MuxQueue
    private let stats: RunStatistics
    /// Frames to decode (files with --max-frames); a live source stops on the sink's count instead.
    private let frameLimit: Int?
    /// Monotonic time at which to stop (--duration).
    private let stopAt: Double?
    /// A planned end (Ctrl-C, --max-frames on a live source).
    private let shouldStop: @Sendable () -> Bool

    init(source: InputSource, events: SourceEvents?, frames: FrameQueue, mux: MuxQueue, stats: RunStatistics,
         frameLimit: Int?, stopAt: Double?, shouldStop: @escaping @Sendable () -> Bool) {
        self.source = source
        self.events = events
        if let live = source.live {
            stopLive = { live.stop() }
        } else {
            stopLive = nil
        }
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
        // The live source reports its events from inside `next()`, on this thread: each lands
        // in the frame queue between the frames before and after it.
        if let live, let events {
            events.deliver { [frames] event in _ = frames.push(.event(event, time: live.clock)) }
        }
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
                if !frames.push(.item(DecodedFrame(frame: frame, decodedAt: decodedAt, capturedAt: capturedAt))) { return }
            case .audio(let packet):
                if !mux.pushAudio(packet) { return }
            }
        }
        // Stopped early: the audio ends with the last frame (a file's demuxer read ahead; a live
        // source's audio skips inference, so it is ahead of the frames in flight).
        if !reachedEnd || live != nil, let videoEnd { mux.cutAudio(at: videoEnd) }
        frames.close()
        mux.endAudio()
    }

    /// A live source may sit in its reconnect loop, which no queue reaches.
    func cancel() { stopLive?() }
}

/// Decoded frames -> frames with their masks (preprocess + asynchronous inference, in order). With
/// `interval` above 1 the network runs on every `interval`th frame and the frames between get its
/// mask carried to them (`SparseSegmenter`); with `auto` it runs as often as it can, beside the
/// frames (`AdaptiveSegmenter`). Every frame goes on, in order, its mask smoothed over the last
/// `smooth` masks when that is above 1.
final class InferenceStage: PipelineStage {
    let name = "inference"
    private let frames: FrameQueue
    private let segmented: SegmentedQueue
    private let stats: RunStatistics
    private let runner: SegmentationRunner
    private let interval: Int
    private let auto: Bool
    private let propagate: Bool
    private let bidirectional: Bool
    private let smooth: Int
    private let frameSize: (width: Int, height: Int)

    init(runner: SegmentationRunner, frames: FrameQueue, segmented: SegmentedQueue,
         stats: RunStatistics, interval: Int = 1, auto: Bool = false, propagate: Bool = true, bidirectional: Bool = false, smooth: Int = 1,
         frameWidth: Int, frameHeight: Int) {
        self.runner = runner
        self.frames = frames
        self.segmented = segmented
        self.stats = stats
        self.interval = interval
        self.auto = auto
        self.propagate = propagate
        self.bidirectional = bidirectional
        self.smooth = smooth
        frameSize = (frameWidth, frameHeight)
    }

    var inputs: [any StageQueue] { [frames] }
    var outputs: [any StageQueue] { [segmented] }

    func run() throws(EPRError) {
        // Mutable state of this thread alone.
        let segmenter: any FrameMasker<DecodedFrame> = auto
            ? AdaptiveSegmenter<DecodedFrame>(runner: runner, propagate: propagate,
                                              frameWidth: frameSize.width, frameHeight: frameSize.height)
            : SparseSegmenter<DecodedFrame>(runner: runner, interval: interval, propagate: propagate, bidirectional: bidirectional,
                                            frameWidth: frameSize.width, frameHeight: frameSize.height)
        var smoother = MaskSmoother(window: smooth, frameWidth: frameSize.width, frameHeight: frameSize.height)
        let sparse = auto || interval > 1
        var runs = RateMeter()
        var runsPerSecond = 0.0
        func forward(_ ready: [MaskedFrame<DecodedFrame>]) -> Bool {
            for item in ready {
                if let result = item.result {
                    stats.record(.preprocess, result.preprocessSeconds)
                    stats.record(.infer, result.inferSeconds)
                    stats.record(.postprocess, result.postprocessSeconds)
                    stats.networkRan()
                    runsPerSecond = runs.tick(at: now())
                }
                stats.maskDelivered(age: item.age)
                let e = item.envelope
                let labels = smoother.smooth(item.labels, motion: propagate ? e.frame.motion : nil, fresh: item.result != nil)
                var out = SegmentedFrame(frame: e.frame, labels: labels, decodedAt: e.decodedAt, capturedAt: e.capturedAt,
                                         maskAge: item.age)
                if sparse { out.inference = (runsPerSecond, item.age) }
                if !segmented.push(.item(out)) { return false }
            }
            return true
        }
        while let flow = frames.pop() {
            switch flow {
            case .item(let item):
                guard forward(try segmenter.submit(item, frame: item.frame)) else { return }
            case .event(let event, let time):
                // The frames before the event go on first (events are rare: the wait is cheap).
                guard forward(try segmenter.flush()), segmented.push(.event(event, time: time)) else { return }
            }
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
    private let segmented: SegmentedQueue
    private let mux: MuxQueue
    private let stats: RunStatistics
    /// With --metadata: each mask's class shares, counted here before the blend.
    private let shareCounter: ClassShareCounter?

    init(compositor: Compositor, segmented: SegmentedQueue, mux: MuxQueue, stats: RunStatistics,
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
        while let flow = segmented.pop() {
            let item: SegmentedFrame
            switch flow {
            case .item(let frame): item = frame
            case .event(let event, let time):
                if !mux.pushVideo(.event(event, time: time)) { return }
                continue
            }
            let started = now()
            let frame = item.frame
            var overlay = OverlayStats(fps: meter.tick(at: started), latencyMs: (started - item.decodedAt) * 1000,
                                       frameIndex: frame.sequence)
            if let inference = item.inference { overlay.inferPerSecond = inference.perSecond; overlay.maskAge = inference.maskAge }
            // Side-by-side composes into a new, wider frame; the other modes draw in place.
            let composed = try compositor.compose(frame, labels: item.labels, stats: overlay)
            let shares = shareCounter?.shares(item.labels)
            stats.record(.compose, now() - started)
            if !mux.pushVideo(.item(AnnotatedFrame(frame: composed, decodedAt: item.decodedAt, capturedAt: item.capturedAt,
                                                   maskAge: item.maskAge, shares: shares))) { return }
        }
        mux.endVideo()
    }
}

/// Audio and annotated frames, in timestamp order -> the outputs: encodes and muxes into the
/// first output on this thread and hands each further output its own copy through its own
/// bounded queue (`OutputStage`). For a live source it also follows the source's events, fills
/// outages with notice frames at the stream's rate, and ends the run after --max-frames or
/// --duration.
// @unchecked: `tee`'s outputs are not thread-safe: run() alone writes them, on this stage's thread
// between the scheduler's start and join; the rest is Sendable lets (the loop's state is run()'s).
final class SinkStage: PipelineStage, @unchecked Sendable {
    let name = "sink"
    private let mux: MuxQueue
    private let tee: TeeOutput
    private let liveOutput: LiveOutput?
    private let stats: RunStatistics
    private let maxFrames: Int?
    private let stopAt: Double?
    private let runStarted: Double
    private let interrupt: InterruptDeadline?
    /// Ends the source (a planned stop of a live run).
    private let endRun: @Sendable () -> Void
    private let droppedFrames: @Sendable () -> Int
    private let progress: (@Sendable (LiveStatus?) -> Void)?

    /// What the loop keeps, run()'s own; published to `report` when it returns.
    struct State: Sendable {
        var live: LiveOutput?
        var lastReport = 0.0
        var firstFrameAt: Double?
        var glassToGlass = LatencyHistogram()
        /// A live run that reached its frame limit or duration: audio from here on is past the
        /// last frame written.
        var audioEnd: Double?
    }
    private let published = Mutex<State?>(nil)
    /// The loop's final state (after the run; nil before).
    var report: State? { published.withLock { $0 } }
    /// With --metadata: one JSON line per frame written.
    private let metadata: MetadataWriter?

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
        var state = State(live: liveOutput)
        defer { published.withLock { [state] in $0 = state } }
        while true {
            let next: Interleaved<Flow<AnnotatedFrame>, AudioPacket>
            if let current = state.live {
                switch mux.pop(timeout: current.frameInterval) {
                case .item(let item): next = item
                case .closed: tee.endBranches(); return
                case .timedOut:
                    try state.live?.fillIfOffline(sink: tee)
                    if let stopAt, now() >= stopAt { endRun() }
                    report(&state, at: now())
                    continue
                }
            } else {
                guard let item = mux.pop() else { tee.endBranches(); return }
                next = item
            }
            switch next {
            case .audio(let packet):
                if let end = state.audioEnd, let t = packet.seconds, t >= end { continue }
                try tee.write(packet)
            case .video(.item(let item)): try write(item, &state)
            case .video(.event(let event, _)): state.live?.follow(event)
            }
        }
    }

    private func write(_ item: AnnotatedFrame, _ state: inout State) throws(EPRError) {
        let live = state.live != nil
        if live, let limit = maxFrames, stats.framesWritten >= limit { return }  // in flight after the stop
        if state.live?.accepts(item.frame) == false { return }
        let t0 = now()
        try tee.write(item.frame)
        let t1 = now()
        stats.record(.encode, t1 - t0)
        stats.record(.endToEnd, t1 - item.decodedAt)
        if let captured = item.capturedAt { state.glassToGlass.record(t1 - captured) }
        stats.frameWritten()
        if let metadata, let shares = item.shares {
            try metadata.write(pts: item.frame.seconds, latency: t1 - item.decodedAt, maskAge: item.maskAge, shares: shares)
        }
        if state.firstFrameAt == nil { state.firstFrameAt = t1 - runStarted }
        state.live?.wrote(item.frame, latency: t1 - item.decodedAt, droppedSoFar: droppedFrames())
        if live {
            if let limit = maxFrames, stats.framesWritten >= limit {
                // The frames in flight behind this one are not written: neither is their audio.
                let frame = item.frame
                state.audioEnd = frame.seconds + Double(frame.duration) * av_q2d(frame.timeBase)
                endRun()
            }
            if let stopAt, t1 >= stopAt { endRun() }
        }
        report(&state, at: t1)
    }

    private func report(_ state: inout State, at t: Double) {
        guard let progress, t - state.lastReport >= 0.5 else { return }
        state.lastReport = t
        progress(state.live?.status(dropped: droppedFrames()))
    }

    /// A network write blocked on a frozen server returns at once.
    func cancel() { interrupt?.abort() }
}

/// One further output of a tee (the browser preview) on its own thread, fed through its own
/// bounded queue that drops the oldest frame when the output falls behind: a slow or blocked one
/// never delays the recording or the others.
// @unchecked: `output` (not thread-safe) is written by run() alone, on this stage's thread between
// the scheduler's start and join; the pipeline finishes it after the join.
public final class OutputStage: PipelineStage, @unchecked Sendable {
    public let name: String
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
