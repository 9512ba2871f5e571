import ArgumentParser
import EPRCore
import EPRMedia
import EPROverlay
import EPRPipeline
import Foundation
import Logging

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Annotate a video: segment every frame and write H.264 with the class colours blended in."
    )

    @Argument(help: "Input video file (mp4, mkv, mov, avi, ...) or live stream (rtsp://HOST:PORT/PATH).")
    var input: String

    @Option(name: .shortAndLong, help: "Output file (.mp4 or .mkv; fragmented MP4 for live input), - for stdout, a FIFO or device (fragmented MP4, in place), or rtsp://HOST:PORT/PATH to publish.")
    var output: String?

    @Option(help: ArgumentHelp("Also serve the annotated video to web browsers: PORT or HOST:PORT (default host 127.0.0.1; 0.0.0.0:PORT for other machines). Open http://HOST:PORT/.", valueName: "[HOST:]PORT"))
    var preview: String?

    @Option(help: ArgumentHelp("Per-frame metadata as JSON lines (stream, frame, pts, latency, mask age, class shares, zones) to FILE, or - for stdout.", valueName: "FILE|-"))
    var metadata: String?

    @Option(name: .customLong("stream-id"), help: ArgumentHelp("The stream's name in the metadata and the metrics (label stream; default main).", valueName: "ID"))
    var streamID: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Log lines on stderr from this level up: trace, debug (the HTTP server's too), info, notice (default: the live events), warning, error, critical.", valueName: "LEVEL"))
    var logLevel: String?

    @Option(help: "Pipeline preset (YAML), e.g. Pipelines/dashcam.yaml. Flags override it.")
    var pipeline: String?

    @Option(help: ArgumentHelp("Recover an MP4 whose recording was cut before its index was written: decode its H.264 frames with the parameters (SPS/PPS, frame rate) of FILE, a complete recording from the same camera. Audio is not recovered.", valueName: "FILE"))
    var reference: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("How to show the mask: blend (default), mask (class colours alone), side-by-side (original and blend; stacked for portrait input), contours (class boundaries).", valueName: "blend|mask|side-by-side|contours"))
    var overlay: String?

    // `.unconditional` on numeric options: "-1" is read as the value (then range-checked with a
    // clear error) rather than as a flag ("Missing value").
    @Option(parsing: .unconditional, help: "Overlay opacity, 0...1 (default 0.5).")
    var alpha: Float?

    @Option(help: ArgumentHelp("Draw only these classes (names or ids, comma-separated); the rest of the picture is left untouched.", valueName: "Road,Car,..."))
    var classes: String?

    @Option(help: ArgumentHelp("Class names and colours: one 'name r,g,b' line per class, or JSON [{\"name\": ..., \"color\": [r, g, b]}]. Default: the model's.", valueName: "FILE"))
    var palette: String?

    @Option(name: .customLong("max-frames"), parsing: .unconditional, help: "Stop after N frames (live input: N annotated frames written).")
    var maxFrames: Int?

    @Option(help: ArgumentHelp("Record the output in files of this many seconds, NAME-YYYYmmdd-HHMMSS.mp4 beside -o NAME.mp4 (UTC), each starting at a keyframe.", valueName: "SECONDS"))
    var segment: Double?

    @Option(help: ArgumentHelp("With --segment: keep the newest N segments, or those younger than an age (90s, 30m, 24h, 7d).", valueName: "N|AGE"))
    var retain: String?

    @Option(parsing: .unconditional, help: "Stop after this many seconds (live input).")
    var duration: Double?

    @Option(name: .customLong("rtsp-transport"), help: "RTSP input transport: tcp (default) or udp.")
    var rtspTransport: String?

    @Option(name: .customLong("stall-timeout"), parsing: .unconditional, help: "Live input: seconds any network call may block, and silence before reconnecting (default 5).")
    var stallTimeout: Double?

    @Option(name: .customLong("max-reconnects"), parsing: .unconditional, help: "Live input: failed connection attempts in a row to retry before giving up (default: forever).")
    var maxReconnects: Int?

    @Option(name: .customLong("infer-every"), help: "Run the network on every Nth frame, or auto: as often as the machine allows, beside the frames; the frames between get its mask moved by the codec's motion vectors (default: 1 for files, auto for live input).")
    var inferEvery: String?

    @Option(parsing: .unconditional, help: "Smooth each mask with the last K: a per-pixel vote (default 1: none).")
    var smooth: Int?

    @Option(help: "How frames between network runs get their mask: mv (moved by motion vectors, default), bidirectional (files: the nearer inferred frame's mask, moved forward or back) or none (reused unchanged).")
    var propagate: String?

    @Flag(name: .customLong("no-legend"), help: "Do not draw the class legend.")
    var noLegend = false

    @Flag(name: .customLong("no-audio"), help: "Leave the input's audio out of the output.")
    var noAudio = false

    @Flag(name: .customLong("no-autorotate"), help: "Keep rotated (phone) video as stored: no upright turn before inference; the output keeps the display matrix.")
    var noAutorotate = false

    @Flag(name: .customLong("no-stats"), help: "Do not draw the FPS and latency line.")
    var noStats = false

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        // FFmpeg's own log lines would break the one-clear-line rule; problems surface as EPRError.
        FFmpegLog.quiet()
        _ = Terminal.startTime   // live event times count from here
        do throws(EPRError) {
            let settings = try resolveSettings()
            try execute(settings)
        } catch {
            Terminal.fail(error)
        }
    }

    private func resolveSettings() throws(EPRError) -> PipelineSettings {
        var settings = PipelineSettings()
        if let pipeline { try PresetLoader.apply(file: pipeline, to: &settings) }
        try modelOptions.apply(to: &settings)
        if let alpha {
            guard (0...1).contains(alpha) else { throw EPRError(.config, "--alpha must be between 0 and 1, got \(alpha)") }
            settings.alpha = alpha
        }
        if let overlay {
            do throws(EPRError) { settings.overlayMode = try OverlayMode(parsing: overlay) } catch {
                throw EPRError(.config, "--overlay: \(error.message)")
            }
        }
        if let classes {
            do throws(EPRError) { settings.classes = try PipelineSettings.parseClasses(classes) } catch {
                throw EPRError(.config, "--classes: \(error.message)")
            }
        }
        if let palette { settings.palettePath = palette }
        if noLegend { settings.showLegend = false }
        if noStats { settings.showStats = false }
        if noAudio { settings.audio = false }
        if noAutorotate { settings.autorotate = false }
        if let reference { settings.reference = reference }
        if let preview {
            _ = try BrowserPreview.parseAddress(preview)
            settings.previewAddress = preview
        }
        if let metadata {
            guard !metadata.isEmpty else { throw EPRError(.config, "--metadata needs a file name or -") }
            if metadata == "-" && output == "-" {
                throw EPRError(.config, "--metadata - and -o - would both write to stdout: give one of them a file")
            }
            settings.metadataPath = metadata
        }
        if let streamID {
            guard PipelineSettings.isValidStreamID(streamID) else {
                throw EPRError(.config, "--stream-id '\(streamID)': use 1-64 letters, digits, '-', '_' or '.'")
            }
            settings.streamID = streamID
        }
        if let maxFrames {
            guard maxFrames > 0 else { throw EPRError(.config, "--max-frames must be positive, got \(maxFrames)") }
            settings.maxFrames = maxFrames
        }
        if let segment {
            guard segment >= 1 else { throw EPRError(.config, "--segment must be at least 1 second, got \(segment)") }
            settings.segmentSeconds = segment
        }
        if let retain {
            do throws(EPRError) { settings.retention = try Retention(parsing: retain) } catch {
                throw EPRError(.config, "--retain: \(error.message)")
            }
        }
        if settings.segmentSeconds != nil && output == nil {
            throw EPRError(.config, "--segment needs a file output (-o NAME.mp4)")
        }
        if settings.retention != nil && settings.segmentSeconds == nil {
            throw EPRError(.config, "--retain needs --segment SECONDS")
        }
        if let duration {
            guard duration > 0 else { throw EPRError(.config, "--duration must be positive, got \(duration)") }
            settings.durationSeconds = duration
        }
        if let rtspTransport {
            let t = rtspTransport.lowercased()
            guard t == "tcp" || t == "udp" else { throw EPRError(.config, "--rtsp-transport must be tcp or udp, got '\(rtspTransport)'") }
            settings.rtspTransport = t
        }
        if let stallTimeout {
            guard stallTimeout > 0 else { throw EPRError(.config, "--stall-timeout must be positive, got \(stallTimeout)") }
            settings.stallTimeout = stallTimeout
        }
        if let maxReconnects {
            guard maxReconnects >= 0 else { throw EPRError(.config, "--max-reconnects must be 0 or more, got \(maxReconnects)") }
            settings.maxReconnects = maxReconnects
        }
        if let inferEvery {
            let every = try PipelineSettings.parseInferEvery(inferEvery, key: "--infer-every")
            settings.inferAuto = every == nil
            if let every { settings.inferEvery = every }
        }
        if let smooth {
            guard (1...16).contains(smooth) else { throw EPRError(.config, "--smooth must be 1 to 16, got \(smooth)") }
            settings.smoothMasks = smooth
        }
        if let propagate {
            guard ["mv", "bidirectional", "none"].contains(propagate) else {
                throw EPRError(.config, "--propagate must be mv, bidirectional or none, got '\(propagate)'")
            }
            settings.propagateMasks = propagate != "none"
            settings.propagateBothWays = propagate == "bidirectional"
        }
        return settings
    }

    private func execute(_ settings: PipelineSettings) throws(EPRError) {
        let level = try logLevel.map { text throws(EPRError) in try StderrLogHandler.level(text) } ?? .notice
        LoggingSystem.bootstrap { StderrLogHandler(label: $0, logLevel: level) }
        var logger = Logger(label: "eprstream.stream")
        logger[metadataKey: "stream"] = .string(settings.streamID)
        let pipeline = Pipeline(input: input, output: output, settings: settings)
        pipeline.log = { [logger] in logger.notice("\($0)") }
        var http = Logger(label: "eprstream.http")
        http[metadataKey: "stream"] = .string(settings.streamID)
        http.logLevel = level <= .debug ? level : .critical   // its info lines are not the user's business
        pipeline.httpLogger = http
        let interrupt = InterruptHandler { pipeline.stop() }
        defer { interrupt.restore() }
        let progress = ProgressPrinter(enabled: !quiet)
        let summary = try pipeline.run { progress.update($0) }
        progress.finish()
        for warning in summary.warnings { Terminal.warn(warning) }
        Terminal.printSummary(summary, toStandardError: output == "-" || settings.metadataPath == "-")
        if let signo = interrupt.signalReceived { Foundation.exit(128 + signo) }   // finalised, but stopped early
    }
}
