import ArgumentParser
import EPRCore
import EPRMedia
import EPRPipeline
import Foundation

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

    @Option(help: "Pipeline preset (YAML), e.g. Pipelines/dashcam.yaml. Flags override it.")
    var pipeline: String?

    @OptionGroup var modelOptions: ModelOptions

    // `.unconditional` on numeric options: "-1" is read as the value (then range-checked with a
    // clear error) rather than as a flag ("Missing value").
    @Option(parsing: .unconditional, help: "Overlay opacity, 0...1 (default 0.5).")
    var alpha: Float?


    @Option(name: .customLong("max-frames"), parsing: .unconditional, help: "Stop after N frames (live input: N annotated frames written).")
    var maxFrames: Int?

    @Option(parsing: .unconditional, help: "Stop after this many seconds (live input).")
    var duration: Double?

    @Option(name: .customLong("rtsp-transport"), help: "RTSP input transport: tcp (default) or udp.")
    var rtspTransport: String?

    @Option(name: .customLong("stall-timeout"), parsing: .unconditional, help: "Live input: seconds any network call may block, and silence before reconnecting (default 5).")
    var stallTimeout: Double?

    @Option(name: .customLong("max-reconnects"), parsing: .unconditional, help: "Live input: failed connection attempts in a row to retry before giving up (default: forever).")
    var maxReconnects: Int?

    @Flag(name: .customLong("no-legend"), help: "Do not draw the class legend.")
    var noLegend = false

    @Flag(name: .customLong("no-audio"), help: "Leave the input's audio out of the output.")
    var noAudio = false

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
        if noLegend { settings.showLegend = false }
        if noStats { settings.showStats = false }
        if noAudio { settings.audio = false }
        if let preview {
            _ = try BrowserPreview.parseAddress(preview)
            settings.previewAddress = preview
        }
        if let maxFrames {
            guard maxFrames > 0 else { throw EPRError(.config, "--max-frames must be positive, got \(maxFrames)") }
            settings.maxFrames = maxFrames
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
        return settings
    }

    private func execute(_ settings: PipelineSettings) throws(EPRError) {
        let pipeline = Pipeline(input: input, output: output, settings: settings)
        pipeline.log = { Terminal.note($0) }
        let interrupt = InterruptHandler { pipeline.stop() }
        defer { interrupt.restore() }
        let progress = ProgressPrinter(enabled: !quiet)
        let summary = try pipeline.run { progress.update($0) }
        progress.finish()
        for warning in summary.warnings { Terminal.warn(warning) }
        Terminal.printSummary(summary, toStandardError: output == "-")
        if let signo = interrupt.signalReceived { Foundation.exit(128 + signo) }   // finalised, but stopped early
    }
}
