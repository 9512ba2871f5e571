import ArgumentParser
import EPRCore
import EPRMedia
import EPRPipeline
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the runner alone, decode + encode alone and the full pipeline on one clip (use a release build).",
        discussion: """
            In one process and in turn: (a) the runner on frames decoded beforehand and kept in memory, \
            (b) decoding + H.264 encoding with no network, (c) the full pipeline as `run` does it, each \
            --repeats times (median reported), with per-stage busy time so the bottleneck is visible.
            With --sweep: the runner alone under each OpenVINO setting (hint, requests, streams), \
            interleaved, and the table the fastest was chosen from, as preset lines.
            With --infer-every 1,2,3,auto: the full pipeline again with the network on every Nth frame \
            (or auto), interleaved, each against the runner alone.
            """
    )

    @Argument(help: "Input video file.")
    var input: String

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Pipeline preset (YAML). Flags override it.")
    var pipeline: String?

    @Option(help: "Frames per measurement (fewer if the clip is shorter).")
    var frames = 200

    @Option(help: "Repeats of each measurement; the median is reported.")
    var repeats = 3


    @Option(name: .customLong("infer-every"), help: "Also time the full pipeline with the network on every Nth frame, for each of a comma-separated list (e.g. 1,2,3,auto).")
    var inferEvery: String?

    @Flag(help: "Measure the runner alone under each OpenVINO setting and print the table and the fastest.")
    var sweep = false

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Flag(help: "Only the summary, no per-repeat lines.")
    var quiet = false

    func run() throws {
        FFmpegLog.quiet()
        do throws(EPRError) {
            if let json { try ReportPath.checkWritable(json) }
            var settings = PipelineSettings()
            if let pipeline { try PresetLoader.apply(file: pipeline, to: &settings) }
            try modelOptions.apply(to: &settings)
            var options = BenchmarkOptions(input: input, settings: settings)
            options.frames = frames
            options.repeats = repeats
            if let inferEvery {
                options.schedules = try inferEvery.split(separator: ",").map { text throws(EPRError) in
                    try PipelineSettings.parseInferEvery(text.trimmingCharacters(in: .whitespaces), key: "--infer-every")
                }
            }
            let verbose = !quiet
            let log = { (line: String) in
                if verbose { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            if sweep {
                let result = try SettingsSweep.run(options, log: log)
                print(Self.report(result))
                if let json { try Self.write(result.jsonObject(), to: json) }
                return
            }
            let result = try Benchmark.run(options, log: log)
            print(Self.report(result))
            if let json { try Self.write(result.jsonObject(), to: json) }
        } catch {
            Terminal.fail(error)
        }
    }

    static func report(_ r: BenchmarkResult) -> String {
        var lines: [String] = []
        lines.append("model \((r.model as NSString).lastPathComponent) at \(r.inputSize.height)x\(r.inputSize.width), "
                     + "\(r.frames) frames of \(r.frameSize.width)x\(r.frameSize.height), median of \(r.repeats)")
        lines.append("machine \(r.machine)"
                     + (r.loadBefore.map { String(format: ", load %.2f before", $0) } ?? "")
                     + (r.loadAfter.map { String(format: ", %.2f after", $0) } ?? ""))
        func line(_ name: String, _ p: BenchmarkPhase) -> String {
            String(format: "%@ %7.2f fps  %6.1f cpu ms/frame  (%.2f cores busy)", name, p.median, p.cpuMsPerFrame,
                   Benchmark.median(p.cpuLoad))
        }
        lines.append(line("runner alone     ", r.runner))
        lines.append(line("decode + encode  ", r.decodeEncode))
        lines.append(line("full pipeline    ", r.pipeline))
        lines.append(String(format: "full / runner      %7.3f", r.ratio))
        if !r.schedules.isEmpty {
            lines.append("full pipeline by network schedule (every frame written; ratio to the runner alone):")
            for row in r.schedules {
                lines.append("  " + row.label.padding(toLength: 6, withPad: " ", startingAt: 0)
                             + String(format: " %7.2f fps  %5.2fx runner  %6.1f cpu ms/frame  network %5.2f runs/s",
                                      row.phase.median, r.runnerFPS > 0 ? row.phase.median / r.runnerFPS : 0,
                                      row.phase.cpuMsPerFrame, Benchmark.median(row.networkRunsPerSecond)))
            }
        }
        lines.append("pipeline stage busy ms per frame:")
        for s in r.stageMsPerFrame where s.stage != Stage.endToEnd.rawValue {
            lines.append("  " + s.stage.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%8.2f", s.ms))
        }
        if let e2e = r.stageMsPerFrame.first(where: { $0.stage == Stage.endToEnd.rawValue }) {
            lines.append(String(format: "  (end-to-end latency %.1f ms per frame on average)", e2e.ms))
        }
        let engine = r.engineSettings.filter { $0.key.hasPrefix("compiled.") }.sorted { $0.key < $1.key }
            .map { "\($0.key.dropFirst("compiled.".count))=\($0.value)" }.joined(separator: " ")
        lines.append("openvino \(engine); encoder \(r.encoder)")
        return lines.joined(separator: "\n")
    }

    static func report(_ r: SweepResult) -> String {
        var lines: [String] = []
        lines.append("model \((r.model as NSString).lastPathComponent) at \(r.inputSize.height)x\(r.inputSize.width), "
                     + "runner alone, \(r.frames) frames, median of \(r.repeats) interleaved repeats")
        lines.append("machine \(r.machine)")
        let best = r.best
        lines.append("setting                               fps   cpu ms/frame  compiled streams/threads")
        for row in r.rows {
            let mark = row.candidate == best?.candidate ? " <- chosen" : ""
            lines.append(row.candidate.label.padding(toLength: 34, withPad: " ", startingAt: 0)
                         + String(format: " %7.2f  %10.1f", row.phase.median, row.phase.cpuMsPerFrame)
                         + "     \(row.compiled["compiled.NUM_STREAMS"] ?? "?")/\(row.compiled["compiled.INFERENCE_NUM_THREADS"] ?? "?")"
                         + mark)
        }
        if let best {
            lines.append("preset lines for the fastest (e.g. in Pipelines/dashcam.yaml):")
            lines.append("inference:")
            lines.append("  hint: \(best.candidate.hint.lowercased())")
            lines.append("  requests: \(best.candidate.requests)")
            if let s = best.candidate.streams { lines.append("  streams: \(s)") }
        }
        return lines.joined(separator: "\n")
    }

    static func write(_ object: [String: Any], to path: String) throws(EPRError) {
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw EPRError(.output, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
