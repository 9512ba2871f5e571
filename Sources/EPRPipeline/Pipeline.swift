import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import EPROverlay
import EPRServer
import Foundation
import Synchronization
import Logging

/// A progress report, sent a few times per second while a run goes.
public struct ProgressSnapshot: Sendable {
    public let framesWritten: Int
    public let framesDecoded: Int
    public let estimatedTotal: Int?
    public let elapsed: Double
    public let fps: Double
    public let queueDepths: [String: Int]
    public let dropped: Int
    /// Live sources only: connection state and counters.
    public var live: LiveStatus? = nil
}

/// Where a live source stands, for the progress line.
public struct LiveStatus: Sendable {
    public enum State: String, Sendable {
        /// Frames arrive and the pipeline keeps up.
        case live
        /// Frames arrive faster than the pipeline handles them: the oldest are dropped (our side).
        case backPressure = "back-pressure"
        /// The source sends nothing (its side); after the stall timeout it is reconnected.
        case stalled
        /// Disconnected, reconnecting; the output shows the offline notice.
        case offline
    }
    public let state: State
    public let reconnects: Int
    public let stalls: Int
    public let offlineFrames: Int
}

/// What a live run adds to the summary.
public struct LiveSummary: Sendable {
    public let reconnects: Int
    public let stalls: Int
    /// Notice frames written while the source was down.
    public let offlineFrames: Int
    /// Frames that surfaced after the notice frames covering their time (dropped, not written).
    public let lateFrames: Int
    public let framesReceived: Int
    /// Deepest the live frame queue got, and its capacity.
    public let frameQueueMaxDepth: Int
    public let frameQueueCapacity: Int
    /// Run start -> first annotated frame written.
    public let firstFrameSeconds: Double?
    /// Each outage: disconnect detected -> frames flowing again.
    public let reconnectSeconds: [Double]
    /// A network output that went away and came back, and the frames made while it was down.
    public let outputReconnects: Int
    public let framesNotSent: Int
    /// Captured at the source -> written, when the stream tells capture times (RTSP sender reports).
    public let glassToGlass: LatencyHistogram?
}

/// How the masks of a run came about (the network's own or carried from an earlier frame).
public struct MaskSummary: Sendable {
    /// nil: `auto` (as often as the machine allows).
    public let inferEvery: Int?
    /// "mv" (moved by motion vectors), "bidirectional" (from the nearer inferred frame, moved
    /// forward or back) or "none" (reused unchanged).
    public let propagation: String
    public let inferred: Int
    public let carried: Int
    /// Frames since the network ran, median over all written masks.
    public let ageMedian: Int
    /// Network results used, and their number per second of the run.
    public let runs: Int
    public let runsPerSecond: Double
    /// --smooth K (1: none).
    public let smoothing: Int
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
    public var live: LiveSummary? = nil
    /// With --preview: its page, the viewers it served and the frames it encoded for them.
    public var preview: (url: String, viewers: Int, frames: Int)? = nil
    /// With --infer-every above 1: how many masks the network made and how many were carried.
    public var masks: MaskSummary? = nil

    public var fps: Double { wallSeconds > 0 ? Double(framesWritten) / wallSeconds : 0 }
}

/// The main job: Source -> Runner (preprocess + async inference) -> Compositor -> Sink, each a
/// stage on its own thread, joined by bounded queues (`run` sets up, `buildGraph` wires, the
/// `Scheduler` runs and fails them together). Files block when a queue is full,
/// so memory stays flat and no frame is lost; each mask is blended into the frame it came from.
/// Live sources (rtsp://...) drop the oldest frame instead (counted), reconnect on their own, and
/// keep the output running with an offline notice while they are down.
public final class Pipeline: @unchecked Sendable {
    public let input: String
    /// A file or a network URL; nil when the run only feeds the browser preview.
    public let output: String?
    public let settings: PipelineSettings
    public let statistics = RunStatistics()
    /// One line per event worth telling (reconnects, stalls, back-pressure); stderr in the CLI.
    public var log: (@Sendable (String) -> Void)?
    /// The HTTP server's logger (nil: quiet).
    public var httpLogger: Logger?
    private let stopLock = NSLock()
    private var stopRequested = false
    private var interruptRequested = false
    private var liveSource: LiveSource?
    /// A model compiled once and shared with other pipelines (each gets its own runner on it);
    /// nil: `run` compiles one for its source.
    public let sharedModel: CompiledSegmentationModel?

    /// With `serve`: the process's HTTP server and metrics, shared by every stream. Its metrics
    /// are labelled with the stream id, and its preview (when asked) is served at /streams/ID/.
    public struct SharedHTTP: Sendable {
        public let server: HTTPServer
        public let metrics: MetricsRegistry
        public let preview: Bool
        public init(server: HTTPServer, metrics: MetricsRegistry, preview: Bool) {
            self.server = server
            self.metrics = metrics
            self.preview = preview
        }
    }
    public var sharedHTTP: SharedHTTP?
    /// Told once the source is open and every output is set up, just before frames flow.
    public var onStarted: (@Sendable () -> Void)?
    /// Where the preview is served on a shared server.
    public var previewPath: String { "/streams/\(settings.streamID)/" }

    public init(input: String, output: String?, settings: PipelineSettings, model: CompiledSegmentationModel? = nil) {
        self.input = input
        self.output = output
        self.settings = settings
        sharedModel = model
    }

    /// Ends the run early but cleanly (Ctrl-C, --duration, --max-frames on a live source):
    /// decoding stops (a blocked network read returns at once), frames in flight finish, and the
    /// output is finalised and playable.
    public func stop() {
        stopLock.lock(); interruptRequested = true; stopLock.unlock()
        endRun()
    }

    /// Stops the source (a planned end: --max-frames or --duration on a live source).
    private func endRun() {
        stopLock.lock(); stopRequested = true; let live = liveSource; stopLock.unlock()
        live?.stop()
    }

    private var wasInterrupted: Bool { stopLock.lock(); defer { stopLock.unlock() }; return interruptRequested }

    private var isStopping: Bool { stopLock.lock(); defer { stopLock.unlock() }; return stopRequested }

    public func run(progress: (@Sendable (ProgressSnapshot) -> Void)? = nil) throws(EPRError) -> RunSummary {
        guard let modelPath = settings.modelPath else { throw EPRError(.model, "no model given (use --model PATH)") }
        guard output != nil || settings.previewAddress != nil || sharedHTTP?.preview == true else {
            throw EPRError(.config, "no output: give -o FILE|URL, --preview PORT, or both")
        }
        // Refused before anything is opened: writing there would destroy the input.
        if let output, OutputTarget.isSameFile(output, as: input) {
            throw EPRError(.config, "output \(output) is the input file \(input): refusing to overwrite it, choose another -o")
        }
        let runStarted = now()

        // Waiting for the next inferred frame is for files, where latency does not matter.
        if settings.propagateBothWays && (infersAuto || isLiveURL(input)) {
            throw EPRError(.config, "--propagate bidirectional needs a file and --infer-every N (it waits for the next inferred frame)")
        }
        // The source: a file (blocking) or a live stream (reconnecting); either may bring audio.
        let events = SourceEvents()
        let source = try openSource(events: events)
        defer { source.close() }
        let live = source.live

        // The compiled model (given, when several streams share one, or compiled here for this
        // source) and this stream's runner, with its own requests on it.
        var runnerOptions = settings.runnerOptions
        if infersAuto { runnerOptions.inFlight = 1 }   // one run at a time, both cores on it: the freshest mask
        let model = if let sharedModel { sharedModel } else {
            try CompiledSegmentationModel(modelPath: modelPath, frameWidth: source.video.width,
                                          frameHeight: source.video.height, options: runnerOptions)
        }
        let runner = try model.makeRunner()

        var compositorOptions = CompositorOptions()
        compositorOptions.mode = settings.overlayMode
        compositorOptions.alpha = settings.alpha
        compositorOptions.classes = settings.classes
        compositorOptions.palette = try settings.palettePath.map { path throws(EPRError) in try Palette(contentsOfFile: path) }
        compositorOptions.showLegend = settings.showLegend
        compositorOptions.showStats = settings.showStats
        let compositor = try Compositor(model: runner.model, options: compositorOptions)
        let outputSize = compositor.outputSize(frameWidth: source.video.width, frameHeight: source.video.height)
        let outputVideo = source.video.resized(width: outputSize.width, height: outputSize.height)

        var sinkOptions = SinkOptions()
        sinkOptions.preset = settings.encoderPreset
        sinkOptions.crf = settings.encoderCRF
        sinkOptions.encoderThreads = settings.encoderThreads
        sinkOptions.live = live != nil
        var outputs: [any VideoOutput] = []
        var republisher: RepublishingOutput?
        if let output {
            if settings.segmentSeconds != nil && VideoSink.isNetworkURL(output) {
                throw EPRError(.config, "segmented recording needs a file output, not \(output)")
            }
            if VideoSink.isNetworkURL(output) { sinkOptions.interrupt = InterruptDeadline(timeout: settings.stallTimeout) }
            let openSink = { [sinkOptions] () throws(EPRError) -> VideoSink in
                try VideoSink(path: output, video: outputVideo, audio: source.audioStreams, options: sinkOptions)
            }
            // A live run publishing to a server reconnects the output as it does the input.
            if live != nil && VideoSink.isNetworkURL(output) {
                republisher = try RepublishingOutput(retry: liveSourceOptions(), log: log ?? { _ in }, open: openSink)
            }
            if let seconds = settings.segmentSeconds {
                outputs.append(try SegmentedRecorder(path: output, seconds: seconds, retention: settings.retention,
                                                     video: outputVideo, audio: source.audioStreams, options: sinkOptions))
            } else if let republisher { outputs.append(republisher) } else { outputs.append(try openSink()) }
        }
        var preview: BrowserPreview?
        var server: HTTPServer?
        var metadataEvents: MetadataBroadcaster?
        var previewURL: String?
        if let shared = sharedHTTP {
            statistics.metrics = shared.metrics.stream(settings.streamID)
            if shared.preview {
                do throws(EPRError) {
                    let opened = try BrowserPreview(video: outputVideo, options: sinkOptions)
                    shared.server.routes.registerPreview(opened, at: previewPath)
                    preview = opened
                    previewURL = shared.server.baseURL + previewPath.dropFirst()
                    outputs.append(opened)
                } catch {
                    outputs.forEach { $0.abort() }
                    throw error
                }
            }
        } else if let address = settings.previewAddress {
            do throws(EPRError) {
                let (host, port) = try BrowserPreview.parseAddress(address)
                let opened = try BrowserPreview(video: outputVideo, options: sinkOptions)
                let http = try HTTPServer(host: host, port: port, name: "the browser preview", logger: httpLogger)
                http.routes.registerPreview(opened)
                // The same server tells how the run goes: /metrics, /healthz, /readyz.
                let metrics = MetricsRegistry()
                statistics.metrics = metrics.stream(settings.streamID)
                let stats = statistics
                http.routes.registerOperations(metrics: metrics, ready: { stats.framesDecoded > 0 })
                preview = opened
                server = http
                previewURL = http.baseURL
                outputs.append(opened)
                log?("browser preview: \(http.baseURL)")
            } catch {
                outputs.forEach { $0.abort() }
                throw error
            }
        }
        // Each frame's metadata as it is written, on whichever server this run has: /api/streams/ID/events.
        if let routes = sharedHTTP?.server.routes ?? server?.routes {
            let broadcaster = MetadataBroadcaster()
            routes.registerEvents(broadcaster, stream: settings.streamID)
            metadataEvents = broadcaster
        }
        defer {
            server?.shutdown()
            if let shared = sharedHTTP {
                if preview != nil { shared.server.routes.removePreview(at: previewPath) }
                shared.server.routes.removeEvents(stream: settings.streamID)
            }
        }
        let tee = TeeOutput(outputs)

        // Everything that can fail in set-up is done before the first thread starts.
        var liveOutput: LiveOutput?
        do throws(EPRError) {
            liveOutput = try live.map { source throws(EPRError) in try LiveOutput(source: source, log: log) }
        } catch {
            tee.abort()
            throw error
        }

        var metadata: MetadataWriter?
        do throws(EPRError) {
            if settings.metadataPath != nil || metadataEvents != nil {
                metadata = try MetadataWriter(path: settings.metadataPath, broadcaster: metadataEvents, stream: settings.streamID,
                                              classNames: runner.model.classNames, zones: settings.zones)
            }
        } catch {
            tee.abort()
            throw error
        }
        defer { metadata?.finish() }
        let shareCounter = metadata.map { _ in
            ClassShareCounter(classCount: runner.model.classNames.count, zones: settings.zones,
                              maskWidth: runner.inputWidth, maskHeight: runner.inputHeight)
        }
        let graph = buildGraph(source: source, events: events, runner: runner, compositor: compositor, tee: tee, liveOutput: liveOutput,
                               interrupt: sinkOptions.interrupt, runStarted: runStarted, progress: progress,
                               metadata: metadata, shareCounter: shareCounter)
        let started = now()
        onStarted?()
        do throws(EPRError) {
            try graph.scheduler.run()
        } catch {
            tee.abort()
            throw error
        }
        try tee.finish()
        let frames = graph.frames, sinkReport = graph.sink.report
        let wall = now() - started
        if let progress {
            progress(snapshot(estimate: source.video.estimatedFrameCount, queues: [], dropped: frames.droppedCount, live: sinkReport?.live?.status(dropped: frames.droppedCount)))
        }
        var latencies: [Stage: LatencyHistogram] = [:]
        var busy: [Stage: Double] = [:]
        let stats = statistics
        for stage in Stage.allCases {
            latencies[stage] = stats.histogram(stage)
            busy[stage] = stats.busySeconds(stage)
        }
        let destinations = [output, previewURL].compactMap { $0 }
        var summary = RunSummary(input: input, output: destinations.joined(separator: " and "), model: modelPath,
                                 inputSize: (runner.inputHeight, runner.inputWidth),
                                 framesWritten: tee.framesWritten, framesDropped: frames.droppedCount,
                                 wallSeconds: wall, interrupted: wasInterrupted,
                                 warnings: source.warnings + tee.warnings + graph.mux.warnings,
                                 latencies: latencies, busySeconds: busy)
        if infersAuto || settings.inferEvery > 1 || settings.smoothMasks > 1 {
            summary.masks = MaskSummary(inferEvery: infersAuto ? nil : settings.inferEvery,
                                        propagation: settings.propagateBothWays ? "bidirectional" : settings.propagateMasks ? "mv" : "none",
                                        inferred: stats.framesInferred, carried: stats.framesCarried,
                                        ageMedian: stats.maskAgeMedian ?? 0, runs: stats.networkRuns,
                                        runsPerSecond: wall > 0 ? Double(stats.networkRuns) / wall : 0,
                                        smoothing: settings.smoothMasks)
        }
        if let preview, let previewURL {
            let served = preview.served
            summary.preview = (previewURL, served.viewers, served.frames)
        }
        if let live, let report = sinkReport, let out = report.live, case .live(_, let outages) = source {
            summary.live = LiveSummary(reconnects: live.reconnects, stalls: live.stalls, offlineFrames: out.offlineFrames,
                                       lateFrames: out.lateFrames,
                                       framesReceived: stats.framesDecoded,
                                       frameQueueMaxDepth: frames.maxDepth, frameQueueCapacity: frames.capacity,
                                       firstFrameSeconds: report.firstFrameAt,
                                       reconnectSeconds: outages.all,
                                       outputReconnects: republisher?.reconnects ?? 0,
                                       framesNotSent: republisher?.framesNotSent ?? 0,
                                       glassToGlass: report.glassToGlass.count > 0 ? report.glassToGlass : nil)
        }
        return summary
    }

    /// The run's graph, the one place that tells the whole topology:
    ///
    ///     source ─► frames ─► inference ─► segmented ─► compose ─┐
    ///        └──────────── audio (straight from the source) ─────┴► mux ─► sink ─► output 1
    ///                                                                        └─► queue ─► output 2..
    ///
    /// Every queue has a size. A file source blocks rather than drops; a live source keeps only the
    /// newest frames (the drop count is the back-pressure meter; its connection events go in band
    /// with the frames and are never dropped) and drops the oldest audio.
    private func buildGraph(source: InputSource, events: SourceEvents, runner: SegmentationRunner, compositor: Compositor, tee: TeeOutput,
                            liveOutput: LiveOutput?, interrupt: InterruptDeadline?, runStarted: Double,
                            progress: (@Sendable (ProgressSnapshot) -> Void)?,
                            metadata: MetadataWriter?, shareCounter: ClassShareCounter?) -> RunGraph {
        let live = source.live != nil
        let scheduler = Scheduler()
        let frames = scheduler.queue(live
            ? FrameQueue(capacity: settings.liveFrameQueueCapacity, policy: .dropOldest, neverDrop: { $0.isEvent })
            : FrameQueue(capacity: settings.frameQueueCapacity, policy: .block))
        let segmented = scheduler.queue(SegmentedQueue(capacity: settings.segmentedQueueCapacity))
        let mux = scheduler.queue(MuxQueue(videoCapacity: settings.encodeQueueCapacity,
                                           audioCapacity: settings.audioQueueCapacity,
                                           audioPolicy: live ? .dropOldest : .block,
                                           videoTime: { flow in
                                               switch flow {
                                               case .item(let item): item.frame.seconds
                                               case .event(_, let time): time
                                               }
                                           },
                                           audioTime: { $0.seconds }))
        tee.branches.forEach { scheduler.queue($0) }

        let stats = statistics
        let stopAt = settings.durationSeconds.map { runStarted + $0 }
        // A file stops decoding after maxFrames; a live source (which drops) stops once the sink has
        // written maxFrames annotated frames.
        scheduler.add(SourceStage(source: source, events: events, frames: frames, mux: mux, stats: stats,
                                  frameLimit: live ? nil : settings.maxFrames, stopAt: stopAt,
                                  shouldStop: { [self] in isStopping }))
        scheduler.add(InferenceStage(runner: runner, frames: frames, segmented: segmented, stats: stats,
                                     interval: settings.inferEvery, auto: infersAuto, propagate: settings.propagateMasks,
                                     bidirectional: settings.propagateBothWays, smooth: settings.smoothMasks,
                                     frameWidth: source.video.width, frameHeight: source.video.height))
        scheduler.add(ComposeStage(compositor: compositor, segmented: segmented, mux: mux, stats: stats,
                                   shareCounter: shareCounter))
        let estimate = source.video.estimatedFrameCount
        let metrics = stats.metrics
        var report: (@Sendable (LiveStatus?) -> Void)?
        if progress != nil || metrics != nil {
            report = { @Sendable [self] (status: LiveStatus?) in
                let depths: [(String, Int)] = [("frames", frames.count), ("segmented", segmented.count), ("encode", mux.videoCount)]
                let dropped = frames.droppedCount
                metrics?.observe(dropped: dropped, reconnects: status?.reconnects ?? 0, stalls: status?.stalls ?? 0,
                                 queueDepths: depths)
                progress?(snapshot(estimate: estimate, queues: depths, dropped: dropped, live: status))
            }
        }
        let sink = SinkStage(mux: mux, tee: tee, liveOutput: liveOutput, stats: stats,
                             maxFrames: live ? settings.maxFrames : nil, stopAt: live ? stopAt : nil,
                             runStarted: runStarted, interrupt: interrupt,
                             endRun: { [self] in endRun() }, droppedFrames: { frames.droppedCount }, progress: report,
                             metadata: metadata)
        scheduler.add(sink)
        tee.branchStages().forEach { scheduler.add($0) }
        return RunGraph(scheduler: scheduler, frames: frames, mux: mux, sink: sink)
    }

    /// Opens the input: live URLs through `LiveSource` (reconnecting; events logged, and sent
    /// down the graph through `events`), files directly.
    private func openSource(events: SourceEvents) throws(EPRError) -> InputSource {
        guard isLiveURL(input) else {
            var options = SourceOptions()
            options.decoderThreads = settings.decoderThreads
            options.videoOnly = !settings.audio
            options.exportMotionVectors = carriesMasks
            options.autorotate = settings.autorotate
            if let reference = settings.reference {
                return .file(try TruncatedMP4.recover(path: input, reference: reference, options: options))
            }
            return .file(try MediaSource(url: input, options: options))
        }
        let options = liveSourceOptions()
        let log = self.log ?? { _ in }
        let outages = OutageLog()
        let source = LiveSource(url: input, options: options) { event in
            switch event {
            case .disconnected(let reason, let stalled):
                log(stalled ? "source stalled: \(reason) (the source stopped sending; not back-pressure); reconnecting"
                            : "source disconnected: \(reason); reconnecting")
                events.send(stalled ? .stalled : .offline)
            case .attemptFailed(let attempt, let reason, let retryIn):
                log(String(format: "connection attempt %d failed: %@; retrying in %.1f s", attempt, reason, retryIn))
            case .resumed(let attempt, let down):
                if attempt == 0 {
                    log(String(format: "connected: first frame %.2f s after start", down))
                    events.send(.online)
                } else {
                    outages.add(down)
                    log(String(format: "reconnected: frames flow again after %.2f s offline (reconnect %d)", down, attempt))
                    events.send(.reconnected)
                }
            }
        }
        // Registered before connecting, so that Ctrl-C reaches a first connection that hangs.
        stopLock.lock(); liveSource = source; let stopEarly = stopRequested; stopLock.unlock()
        if stopEarly { source.stop() }
        try source.open()
        return .live(source, outages)
    }

    private func liveSourceOptions() -> LiveSourceOptions {
        var options = LiveSourceOptions()
        options.transport = settings.rtspTransport
        options.stallTimeout = settings.stallTimeout
        options.maxReconnects = settings.maxReconnects
        options.decoderThreads = settings.decoderThreads
        options.audio = settings.audio
        options.exportMotionVectors = carriesMasks
        return options
    }

    /// Frames between network runs, and the earlier results a smoothed mask votes with, are carried
    /// by the decoder's motion vectors.
    private var carriesMasks: Bool { (infersAuto || settings.inferEvery > 1 || settings.smoothMasks > 1) && settings.propagateMasks }

    /// `--infer-every auto`, the default for live sources.
    private var infersAuto: Bool { settings.infersAuto(live: isLiveURL(input)) }

    private func snapshot(estimate: Int?, queues: [(String, Int)], dropped: Int, live: LiveStatus?) -> ProgressSnapshot {
        let elapsed = statistics.elapsed
        let written = statistics.framesWritten
        var snapshot = ProgressSnapshot(framesWritten: written, framesDecoded: statistics.framesDecoded,
                                        estimatedTotal: settings.maxFrames.map { min($0, estimate ?? $0) } ?? estimate,
                                        elapsed: elapsed, fps: elapsed > 0 ? Double(written) / elapsed : 0,
                                        queueDepths: Dictionary(uniqueKeysWithValues: queues), dropped: dropped)
        snapshot.live = live
        return snapshot
    }
}

/// A built graph and what the summary reads from it after the run.
struct RunGraph {
    let scheduler: Scheduler
    let frames: FrameQueue
    let mux: MuxQueue
    let sink: SinkStage
}

/// The run's input: a file (blocking, with audio) or a live stream.
enum InputSource {
    case file(MediaSource)
    case live(LiveSource, OutageLog)

    var video: VideoStreamInfo {
        switch self {
        case .file(let s): return s.video
        case .live(let s, _): return s.video
        }
    }
    var audioStreams: [AudioStreamInfo] {
        switch self {
        case .file(let s): return s.audioStreams
        case .live(let s, _): return s.audioStreams
        }
    }
    var warnings: [String] {
        if case .file(let s) = self { return s.warnings }
        return []
    }
    var live: LiveSource? {
        if case .live(let s, _) = self { return s }
        return nil
    }
    func next() throws(EPRError) -> SourceItem? {
        switch self {
        case .file(let s): return try s.next()
        case .live(let s, _): return try s.next()
        }
    }
    func close() {
        switch self {
        case .file(let s): s.close()
        case .live(let s, _): s.close()
        }
    }
}

/// Outage durations (disconnect -> frames again), filled from the live source's thread.
final class OutageLog: Sendable {
    private let durations = Mutex<[Double]>([])
    func add(_ seconds: Double) { durations.withLock { $0.append(seconds) } }
    var all: [Double] { durations.withLock { $0 } }
}
