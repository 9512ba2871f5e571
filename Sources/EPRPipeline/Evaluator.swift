import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import Foundation

/// Settings of an accuracy run.
public struct EvaluationOptions: Sendable {
    public var modelPath: String
    public var inputHeight: Int?
    public var inputWidth: Int?
    public var threads = 0
    public var preprocessing = Preprocessing.graph
    /// Model facts from flags (`--mean`, `--bgr`, ...), over the sidecar and the metadata.
    public var modelFacts = ModelFacts()
    /// Where to write colourised masks (one PNG per image), if anywhere.
    public var saveMasksTo: String?
    /// Frame rate of the video built for `--through-video` (CamVid val: 15 fps).
    public var videoFPS = 15
    public var videoCRF = 23
    /// Through video: the network on every Nth frame, the frames between scored with the mask
    /// carried to them by motion vectors (`propagate`) or reused unchanged.
    public var inferEvery = 1
    public var propagate = true
    /// With `propagate`: a frame between takes the nearer inferred frame's mask, the later one's
    /// carried back (`SparseSegmenter`'s `bidirectional`).
    public var bidirectional = false
    /// Through video: each mask the per-pixel vote of the last this many (`MaskSmoother`).
    public var smooth = 1

    public init(modelPath: String) { self.modelPath = modelPath }
}

/// What `eprstream eval` reports (and writes as JSON).
public struct EvaluationResult: Sendable, Codable {
    public let mode: String
    public let model: String
    public let inputSize: String
    public let images: Int
    public let classNames: [String]
    public let confusion: ConfusionMatrix
    public let classIoU: [Double?]
    public let meanIoU: Double
    public let pixelAccuracy: Double
    public let seconds: Double
    public let msPerImage: Double
    public let date: String
    /// Through video: the share of pixels whose label changes from one frame to the next.
    public var flicker: Double? = nil
}

/// Measures accuracy through the deployed runtime: the Swift preprocess + OpenVINO runner on each
/// image, or (through video) the full decode path on an H.264 encoding of the listed frames.
public enum Evaluator {
    /// Image path: each listed RGB image straight into the runner, as training saw it.
    public static func evaluateImages(_ dataset: LabelledDataset, options: EvaluationOptions,
                                      progress: ((Int, Int) -> Void)? = nil) throws(EPRError) -> EvaluationResult {
        let first = try StillImage.read(dataset.pairs[0].image, as: .rgb24)
        let runner = try makeRunner(options, width: first.width, height: first.height, inFlight: 1)
        var matrix = ConfusionMatrix(classCount: runner.model.classCount)
        let started = now()
        for (index, pair) in dataset.pairs.enumerated() {
            let image = index == 0 ? first : try StillImage.read(pair.image, as: .rgb24)
            let truth = try readLabels(pair, width: image.width, height: image.height)
            let labels = try runner.segment(rgb: image.bytes, width: image.width, height: image.height)
            let prediction = labels.resized(width: image.width, height: image.height)
            matrix.add(truth: truth, prediction: prediction.labels)
            if let dir = options.saveMasksTo { try saveMask(prediction, model: runner.model, to: dir, name: pair.name) }
            progress?(index + 1, dataset.pairs.count)
        }
        return result("image", runner: runner, matrix: matrix, images: dataset.pairs.count, seconds: now() - started)
    }

    /// Video path: encodes the listed frames in order as H.264 yuv420p at `videoFPS` (as a dashcam
    /// would deliver them), decodes that file with the run command's source, and scores each
    /// decoded frame's mask against its label. The gap to the image path is what codec loss costs.
    public static func evaluateThroughVideo(_ dataset: LabelledDataset, options: EvaluationOptions, workDirectory: String,
                                            progress: ((Int, Int) -> Void)? = nil) throws(EPRError) -> EvaluationResult {
        let video = (workDirectory as NSString).appendingPathComponent("eval-\(getpid()).mp4")
        defer { try? FileManager.default.removeItem(atPath: video) }
        try encode(dataset, fps: options.videoFPS, crf: options.videoCRF, to: video)

        var sourceOptions = SourceOptions()
        sourceOptions.exportMotionVectors = (options.inferEvery > 1 || options.smooth > 1) && options.propagate
        let source = try MediaSource(url: video, options: sourceOptions)
        defer { source.close() }
        let runner = try makeRunner(options, width: source.video.width, height: source.video.height, inFlight: 2)
        let segmenter = SparseSegmenter<Void>(runner: runner, interval: options.inferEvery, propagate: options.propagate,
                                              bidirectional: options.bidirectional, frameWidth: source.video.width, frameHeight: source.video.height)
        var matrix = ConfusionMatrix(classCount: runner.model.classCount)
        var smoother = MaskSmoother(window: options.smooth, frameWidth: source.video.width, frameHeight: source.video.height)
        var flicker = FlickerMeter()
        var scored = 0
        let started = now()
        func score(_ results: [SparseSegmenter<Void>.Output]) throws(EPRError) {
            for result in results {
                let index = result.frame.sequence
                guard index < dataset.pairs.count else { continue }
                let pair = dataset.pairs[index]
                let truth = try readLabels(pair, width: result.frame.width, height: result.frame.height)
                let prediction = smoother.smooth(result.labels, motion: options.propagate ? result.frame.motion : nil,
                                                 fresh: result.result != nil).resized(width: result.frame.width, height: result.frame.height)
                matrix.add(truth: truth, prediction: prediction.labels)
                flicker.add(prediction.labels)
                if let dir = options.saveMasksTo {
                    try saveMask(prediction, model: runner.model, to: (dir as NSString).appendingPathComponent("video"), name: pair.name)
                }
                scored += 1
                progress?(scored, dataset.pairs.count)
            }
        }
        while let item = try source.next() {
            if case .video(let frame) = item { try score(try segmenter.submit((), frame: frame)) }
        }
        try score(try segmenter.drain())
        guard scored == dataset.pairs.count else {
            throw EPRError(.internalFailure, "the evaluation video gave \(scored) frames for \(dataset.pairs.count) images")
        }
        var scores = result("video", runner: runner, matrix: matrix, images: scored, seconds: now() - started)
        scores.flicker = flicker.share
        return scores
    }

    // MARK: - Pieces

    private static func makeRunner(_ options: EvaluationOptions, width: Int, height: Int,
                                   inFlight: Int) throws(EPRError) -> SegmentationRunner {
        var runnerOptions = RunnerOptions()
        runnerOptions.inputHeight = options.inputHeight
        runnerOptions.inputWidth = options.inputWidth
        runnerOptions.threads = options.threads
        runnerOptions.inFlight = inFlight
        runnerOptions.preprocessing = options.preprocessing
        runnerOptions.modelFacts = options.modelFacts
        return try SegmentationRunner(modelPath: options.modelPath, frameWidth: width, frameHeight: height, options: runnerOptions)
    }

    private static func readLabels(_ pair: LabelledDataset.Pair, width: Int, height: Int) throws(EPRError) -> [UInt8] {
        let label = try StillImage.read(pair.label, as: .gray8)
        guard label.width == width, label.height == height else {
            throw EPRError(.dataset, "label \(pair.label) is \(label.width)x\(label.height) but its image is \(width)x\(height)")
        }
        return label.bytes
    }

    private static func encode(_ dataset: LabelledDataset, fps: Int, crf: Int, to path: String) throws(EPRError) {
        let first = try StillImage.read(dataset.pairs[0].image, as: .rgb24)
        let timeBase = AVRational(num: 1, den: Int32(fps))
        let info = VideoStreamInfo(width: first.width, height: first.height, timeBase: timeBase,
                                   frameRate: AVRational(num: Int32(fps), den: 1), estimatedFrameCount: dataset.pairs.count,
                                   durationSeconds: Double(dataset.pairs.count) / Double(fps), codecName: "rawvideo")
        var sinkOptions = SinkOptions()
        sinkOptions.crf = crf
        let sink = try VideoSink(path: path, video: info, audio: [], options: sinkOptions)
        for (index, pair) in dataset.pairs.enumerated() {
            let image = index == 0 ? first : try StillImage.read(pair.image, as: .rgb24)
            guard image.width == first.width, image.height == first.height else {
                throw EPRError(.dataset, "\(pair.image) is \(image.width)x\(image.height); a video needs every frame at \(first.width)x\(first.height)")
            }
            try sink.write(try image.videoFrame(sequence: index, pts: Int64(index), timeBase: timeBase))
        }
        try sink.finish()
    }

    private static func saveMask(_ labels: LabelMap, model: ModelDescription, to dir: String, name: String) throws(EPRError) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw EPRError(.output, "cannot create \(dir): \(error.localizedDescription)")
        }
        var rgb = [UInt8](repeating: 0, count: labels.width * labels.height * 3)
        for (i, label) in labels.labels.enumerated() where Int(label) < model.palette.count {
            let c = model.palette[Int(label)]
            rgb[3 * i] = c.r; rgb[3 * i + 1] = c.g; rgb[3 * i + 2] = c.b
        }
        try StillImage(width: labels.width, height: labels.height, layout: .rgb24, bytes: rgb)
            .writePNG(to: (dir as NSString).appendingPathComponent(name + ".png"))
    }

    private static func result(_ mode: String, runner: SegmentationRunner, matrix: ConfusionMatrix, images: Int,
                               seconds: Double) -> EvaluationResult {
        EvaluationResult(mode: mode, model: runner.modelPath, inputSize: "\(runner.inputHeight)x\(runner.inputWidth)",
                         images: images, classNames: runner.model.classNames, confusion: matrix,
                         classIoU: matrix.classIoU, meanIoU: matrix.meanIoU, pixelAccuracy: matrix.pixelAccuracy,
                         seconds: seconds, msPerImage: images > 0 ? 1000 * seconds / Double(images) : 0,
                         date: ISO8601DateFormatter().string(from: Date()))
    }
}
