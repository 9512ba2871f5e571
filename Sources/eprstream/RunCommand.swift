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

    @Argument(help: "Input video file (mp4, mkv, mov, avi, ...).")
    var input: String

    @Option(name: .shortAndLong, help: "Output file (.mp4 or .mkv).")
    var output: String

    @Option(help: "Pipeline preset (YAML), e.g. Pipelines/dashcam.yaml. Flags override it.")
    var pipeline: String?

    @Option(help: "Model: ONNX or OpenVINO IR (.xml). Default: the shipped CamVid EPRNet (int8 if present).")
    var model: String?

    @Option(help: "Overlay opacity, 0...1 (default 0.5).")
    var alpha: Float?

    @Option(name: .customLong("input-size"), help: "Network input HxW, multiples of 8 (default: short side 360, frame's aspect).")
    var inputSize: String?

    @Option(name: .customLong("max-frames"), help: "Stop after N frames.")
    var maxFrames: Int?

    @Flag(name: .customLong("no-legend"), help: "Do not draw the class legend.")
    var noLegend = false

    @Flag(name: .customLong("no-stats"), help: "Do not draw the FPS and latency line.")
    var noStats = false

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        // FFmpeg's own log lines would break the one-clear-line rule; problems surface as EPRError.
        FFmpegLog.quiet()
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
        if let model { settings.modelPath = model }
        if settings.modelPath == nil { settings.modelPath = try ModelLocator.defaultModel() }
        if let alpha {
            guard (0...1).contains(alpha) else { throw EPRError(.config, "--alpha must be between 0 and 1, got \(alpha)") }
            settings.alpha = alpha
        }
        if let inputSize {
            let size = try PipelineSettings.parseInputSize(inputSize)
            settings.inputHeight = size.height
            settings.inputWidth = size.width
        }
        if noLegend { settings.showLegend = false }
        if noStats { settings.showStats = false }
        if let maxFrames {
            guard maxFrames > 0 else { throw EPRError(.config, "--max-frames must be positive, got \(maxFrames)") }
            settings.maxFrames = maxFrames
        }
        return settings
    }

    private func execute(_ settings: PipelineSettings) throws(EPRError) {
        let pipeline = Pipeline(input: input, output: output, settings: settings)
        let interrupt = InterruptHandler { pipeline.stop() }
        defer { interrupt.restore() }
        let progress = ProgressPrinter(enabled: !quiet)
        let summary = try pipeline.run { progress.update($0) }
        progress.finish()
        for warning in summary.warnings { Terminal.warn(warning) }
        Terminal.printSummary(summary)
    }
}
