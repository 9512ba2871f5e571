import ArgumentParser
import EPRCore
import EPRMedia
import EPRPipeline
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure segmentation accuracy (mIoU) through the deployed runner, on images and through video."
    )

    @Option(help: "Dataset folder (CamVid layout), e.g. ../shared/datasets/camvid.")
    var dataset: String

    @Option(help: "List of 'image label' pairs, relative to the dataset folder (e.g. val.txt).")
    var list: String

    @OptionGroup var modelOptions: ModelOptions


    @Flag(name: .customLong("through-video"), help: "Also encode the frames as 15 fps H.264 and score the decoded video.")
    var throughVideo = false

    @Option(name: .customLong("infer-every"), help: "Through video: run the network on every Nth frame and score the frames between with the carried mask (default 1).")
    var inferEvery = "1"

    @Option(help: "Through video, with --infer-every: mv (masks moved forward by motion vectors, default), bidirectional (the nearer inferred frame's mask, moved forward or back) or none (reused unchanged).")
    var propagate = "mv"

    @Option(parsing: .unconditional, help: "Through video: smooth each mask with the last K, a per-pixel vote (default 1: none).")
    var smooth = 1

    @Option(name: .customLong("save-masks"), help: "Write colourised masks (PNG) into this folder.")
    var saveMasks: String?

    @Option(help: "Write the confusion matrix, per-class IoU, mIoU, model, input size and timing as JSON.")
    var json: String?

    func run() throws {
        FFmpegLog.quiet()
        do throws(EPRError) {
            if let json { try ReportPath.checkWritable(json) }
            try execute()
        } catch {
            Terminal.fail(error)
        }
    }

    private func execute() throws(EPRError) {
        var settings = PipelineSettings()
        try modelOptions.apply(to: &settings)
        var options = EvaluationOptions(modelPath: settings.modelPath!)
        options.inputHeight = settings.inputHeight
        options.inputWidth = settings.inputWidth
        options.preprocessing = settings.preprocessing
        options.modelFacts = settings.modelFacts
        options.saveMasksTo = saveMasks
        // auto follows the machine's speed: a file's frames would all be inferred, so it needs a paced source.
        guard inferEvery != "auto" else {
            throw EPRError(.config, "--infer-every auto needs a live or paced source (eprstream run); eval takes a number of frames")
        }
        guard let every = Int(inferEvery), every >= 1 else { throw EPRError(.config, "--infer-every must be 1 or more, got '\(inferEvery)'") }
        guard ["mv", "bidirectional", "none"].contains(propagate) else {
            throw EPRError(.config, "--propagate must be mv, bidirectional or none, got '\(propagate)'")
        }
        options.inferEvery = every
        options.propagate = propagate != "none"
        options.bidirectional = propagate == "bidirectional"
        guard (1...16).contains(smooth) else { throw EPRError(.config, "--smooth must be 1 to 16, got \(smooth)") }
        options.smooth = smooth
        let data = try LabelledDataset(root: dataset, list: list)

        var results = [try Evaluator.evaluateImages(data, options: options, progress: progressLine("images"))]
        Self.printReport(results[0], label: "mIoU")
        if throughVideo {
            let video = try Evaluator.evaluateThroughVideo(data, options: options, workDirectory: NSTemporaryDirectory(),
                                                           progress: progressLine("video"))
            let how = ["mv": "moved by motion vectors", "bidirectional": "from the nearer inferred frame, moved by motion vectors",
                       "none": "reused"][propagate]!
            var label = every > 1 ? "video mIoU (network on every \(every) frames, masks \(how)" : "video mIoU"
            if smooth > 1 { label += (every > 1 ? ", " : " (") + "smoothed over \(smooth)" }
            if every > 1 || smooth > 1 { label += ")" }
            Self.printReport(video, label: label)
            if let flicker = video.flicker { print(String(format: "flicker: %.2f%% of pixels change label between consecutive frames", 100 * flicker)) }
            print(String(format: "codec loss: %.2f points (image %.2f, video %.2f)",
                         results[0].meanIoU - video.meanIoU, results[0].meanIoU, video.meanIoU))
            results.append(video)
        }
        if let json { try Self.writeJSON(results, to: json) }
    }

    private func progressLine(_ what: String) -> (Int, Int) -> Void {
        let tty = isatty(STDERR_FILENO) == 1
        return { done, total in
            guard tty else { return }
            FileHandle.standardError.write(Data("\r\(what): \(done)/\(total)\u{1B}[K\(done == total ? "\n" : "")".utf8))
        }
    }

    static func printReport(_ r: EvaluationResult, label: String) {
        print("\(r.mode) path: \(r.images) images, model \((r.model as NSString).lastPathComponent) at \(r.inputSize), "
              + String(format: "%.1f ms per image", r.msPerImage))
        print("class         IoU %")
        for (name, iou) in zip(r.classNames, r.classIoU) {
            print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + (iou.map { String(format: " %6.2f", 100 * $0) } ?? "      -"))
        }
        print(String(format: "pixel accuracy: %.2f", r.pixelAccuracy))
        print(String(format: "%@: %.2f", label, r.meanIoU))
    }

    static func writeJSON(_ results: [EvaluationResult], to path: String) throws(EPRError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            // Keyed by path ("image", "video") so readers need not care whether video ran.
            let payload = try encoder.encode(Dictionary(uniqueKeysWithValues: results.map { ($0.mode, $0) }))
            try payload.write(to: URL(fileURLWithPath: path))
        } catch {
            throw EPRError(.output, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
