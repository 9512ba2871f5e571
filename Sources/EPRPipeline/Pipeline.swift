import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import EPROverlay
import Foundation

/// A progress report, sent a few times per second while a run goes.
public struct ProgressSnapshot: Sendable {
    public let framesWritten: Int
    public let framesDecoded: Int
    public let estimatedTotal: Int?
    public let elapsed: Double
    public let fps: Double
    public let queueDepths: [String: Int]
    public let dropped: Int
}

/// What a finished run reports.
public struct RunSummary: Sendable {
    public let input: String
    public let output: String
    public let model: String
    public let inputSize: (height: Int, width: Int)
    public let framesWritten: Int
    public let framesDropped: Int
    public let wallSeconds: Double
    public let interrupted: Bool
    public let warnings: [String]
    public let latencies: [Stage: LatencyHistogram]
    public let busySeconds: [Stage: Double]

    public var fps: Double { wallSeconds > 0 ? Double(framesWritten) / wallSeconds : 0 }
}

/// A decoded frame and when it left the decoder (for end-to-end latency).
struct DecodedFrame: @unchecked Sendable {
    let frame: VideoFrame
    let decodedAt: Double
}

/// A frame with its own mask, ready to blend.
struct SegmentedFrame: @unchecked Sendable {
    let segmentation: Segmentation
    let decodedAt: Double
}

/// An annotated frame ready to encode.
struct AnnotatedFrame: @unchecked Sendable {
    let frame: VideoFrame
    let decodedAt: Double
}

/// The main job: Source -> Runner (preprocess + async inference) -> Compositor -> Sink, each on
/// its own thread, joined by bounded queues (wiring in `run`). Files block when a queue is full,
/// so memory stays flat and no frame is lost; each mask is blended into the frame it came from.
public final class Pipeline: @unchecked Sendable {
    public let input: String
    public let output: String
    public let settings: PipelineSettings
    public let statistics = RunStatistics()
    private let stopLock = NSLock()
    private var stopRequested = false

    public init(input: String, output: String, settings: PipelineSettings) {
        self.input = input
        self.output = output
        self.settings = settings
    }

    /// Ends the run early but cleanly (Ctrl-C): decoding stops, frames in flight finish, and the
    /// output is finalised and playable.
    public func stop() {
        stopLock.lock(); stopRequested = true; stopLock.unlock()
    }

    private var isStopping: Bool { stopLock.lock(); defer { stopLock.unlock() }; return stopRequested }

    public func run(progress: (@Sendable (ProgressSnapshot) -> Void)? = nil) throws(EPRError) -> RunSummary {
        guard let modelPath = settings.modelPath else { throw EPRError(.model, "no model given (use --model PATH)") }

        var sourceOptions = SourceOptions()
        sourceOptions.decoderThreads = settings.decoderThreads
        let source = try MediaSource(url: input, options: sourceOptions)
        defer { source.close() }

        var runnerOptions = RunnerOptions()
        runnerOptions.inputHeight = settings.inputHeight
        runnerOptions.inputWidth = settings.inputWidth
        runnerOptions.threads = settings.inferenceThreads
        runnerOptions.inFlight = settings.inferenceRequests
        let runner = try SegmentationRunner(modelPath: modelPath, frameWidth: source.video.width,
                                            frameHeight: source.video.height, options: runnerOptions)

        var compositorOptions = CompositorOptions()
        compositorOptions.alpha = settings.alpha
        compositorOptions.showLegend = settings.showLegend
        compositorOptions.showStats = settings.showStats
        let compositor = try Compositor(model: runner.model, options: compositorOptions)

        var sinkOptions = SinkOptions()
        sinkOptions.preset = settings.encoderPreset
        sinkOptions.crf = settings.encoderCRF
        sinkOptions.encoderThreads = settings.encoderThreads
        let sink = try VideoSink(path: output, video: source.video, audio: source.audioStreams, options: sinkOptions)

        // The wiring: every queue has a size; a file source blocks rather than drops.
        let frames = BoundedQueue<DecodedFrame>(capacity: settings.frameQueueCapacity)
        let segmented = BoundedQueue<SegmentedFrame>(capacity: settings.segmentedQueueCapacity)
        let annotated = BoundedQueue<AnnotatedFrame>(capacity: settings.encodeQueueCapacity)
        let audio = BoundedQueue<AudioPacket>(capacity: settings.audioQueueCapacity)
        let failure = FailureLatch()
        let stats = statistics
        let maxFrames = settings.maxFrames

        let abortAll: @Sendable (Error) -> Void = { error in
            failure.record(error)
            frames.cancel(); segmented.cancel(); annotated.cancel(); audio.cancel()
        }

        let sourceThread = StageThread(name: "source") { [self] in
            var count = 0
            do {
                while !isStopping, maxFrames.map({ count < $0 }) ?? true {
                    let started = now()
                    guard let item = try source.next() else { break }
                    switch item {
                    case .video(let frame):
                        let decodedAt = now()
                        stats.record(.decode, decodedAt - started)
                        stats.frameDecoded()
                        count += 1
                        if !frames.push(DecodedFrame(frame: frame, decodedAt: decodedAt)) { return }
                    case .audio(let packet):
                        if !audio.push(packet) { return }
                    }
                }
                frames.close()
                audio.close()
            } catch {
                abortAll(error)
            }
        }

        let inferenceThread = StageThread(name: "inference") {
            var decodedAt: [Int: Double] = [:]
            func forward(_ results: [Segmentation]) -> Bool {
                for result in results {
                    stats.record(.preprocess, result.preprocessSeconds)
                    stats.record(.infer, result.inferSeconds)
                    stats.record(.postprocess, result.postprocessSeconds)
                    let seq = result.frame.sequence
                    let item = SegmentedFrame(segmentation: result, decodedAt: decodedAt.removeValue(forKey: seq) ?? now())
                    if !segmented.push(item) { return false }
                }
                return true
            }
            do {
                while let item = frames.pop() {
                    decodedAt[item.frame.sequence] = item.decodedAt
                    guard forward(try runner.submit(item.frame)) else { return }
                }
                if failure.error == nil { guard forward(try runner.drain()) else { return } }
                segmented.close()
            } catch {
                abortAll(error)
            }
        }

        let composeThread = StageThread(name: "compose") {
            var meter = RateMeter()
            do {
                while let item = segmented.pop() {
                    let started = now()
                    let frame = item.segmentation.frame
                    let overlay = OverlayStats(fps: meter.tick(at: started), latencyMs: (started - item.decodedAt) * 1000,
                                               frameIndex: frame.sequence)
                    try compositor.compose(frame, labels: item.segmentation.labels, stats: overlay)
                    stats.record(.compose, now() - started)
                    if !annotated.push(AnnotatedFrame(frame: frame, decodedAt: item.decodedAt)) { return }
                }
                annotated.close()
            } catch {
                abortAll(error)
            }
        }

        // The sink runs here: it writes audio as it arrives and each annotated frame in order.
        let started = now()
        var lastReport = 0.0
        do {
            while let item = annotated.pop() {
                while let packet = audio.tryPop() { try sink.write(packet) }
                let t0 = now()
                try sink.write(item.frame)
                let t1 = now()
                stats.record(.encode, t1 - t0)
                stats.record(.endToEnd, t1 - item.decodedAt)
                stats.frameWritten()
                if let progress, t1 - lastReport >= 0.5 {
                    lastReport = t1
                    progress(snapshot(source: source, queues: [("frames", frames.count), ("segmented", segmented.count),
                                                               ("encode", annotated.count)], dropped: frames.droppedCount))
                }
            }
            sourceThread.join()
            if failure.error == nil {
                while let packet = audio.pop() { try sink.write(packet) }
            }
        } catch {
            abortAll(error)
        }
        sourceThread.join()
        inferenceThread.join()
        composeThread.join()

        if let error = failure.error {
            sink.abort()
            if let error = error as? EPRError { throw error }
            throw EPRError(.internalFailure, "\(error)")
        }
        try sink.finish()
        let wall = now() - started
        if let progress {
            progress(snapshot(source: source, queues: [], dropped: frames.droppedCount))
        }
        var latencies: [Stage: LatencyHistogram] = [:]
        var busy: [Stage: Double] = [:]
        for stage in Stage.allCases {
            latencies[stage] = stats.histogram(stage)
            busy[stage] = stats.busySeconds(stage)
        }
        return RunSummary(input: input, output: output, model: modelPath,
                          inputSize: (runner.inputHeight, runner.inputWidth),
                          framesWritten: sink.framesWritten, framesDropped: frames.droppedCount,
                          wallSeconds: wall, interrupted: isStopping, warnings: source.warnings + sink.warnings,
                          latencies: latencies, busySeconds: busy)
    }

    private func snapshot(source: MediaSource, queues: [(String, Int)], dropped: Int) -> ProgressSnapshot {
        let elapsed = statistics.elapsed
        let written = statistics.framesWritten
        return ProgressSnapshot(framesWritten: written, framesDecoded: statistics.framesDecoded,
                                estimatedTotal: settings.maxFrames.map { min($0, source.video.estimatedFrameCount ?? $0) }
                                    ?? source.video.estimatedFrameCount,
                                elapsed: elapsed, fps: elapsed > 0 ? Double(written) / elapsed : 0,
                                queueDepths: Dictionary(uniqueKeysWithValues: queues), dropped: dropped)
    }
}
