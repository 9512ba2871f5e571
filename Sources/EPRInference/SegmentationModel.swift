import EPRCore
import Foundation
import Synchronization

/// A segmentation model compiled once for frames of one size, to be shared: every runner made
/// from it (`makeRunner()`, one per stream) has its own requests on the same compiled networks.
///
///     let model = try CompiledSegmentationModel(modelPath: path, frameWidth: 960, frameHeight: 540)
///     let a = try model.makeRunner(), b = try model.makeRunner()   // one compile, two runners
///
/// It decides the input size, the preprocessing path and the compile settings (see
/// `SegmentationRunner`), and compiles the network the announced frames need; the graph path's
/// u8 RGB network (RGB images, frames the planes network would not convert as swscale does) is
/// compiled when a runner first needs it, once for all of them. Thread-safe.
public final class CompiledSegmentationModel: Sendable {
    public let model: ModelDescription
    public let inputHeight: Int
    public let inputWidth: Int
    /// Settings the engine was compiled with, and what OpenVINO reports back (NUM_STREAMS, ...).
    public let engineSettings: [String: String]
    public let modelPath: String
    public let preprocessing: Preprocessing
    /// Requests each runner gets (the most frames it has in flight at once).
    public let inFlight: Int
    /// The engine that compiled it (and compiles the RGB network when needed).
    public let engine: any InferenceEngine

    /// Graph path: takes yuv420p planes of `planeSize`; otherwise the network that takes
    /// everything (host path: f32; graph path when no even size fits: u8 RGB).
    let primaryNetwork: any CompiledNetwork
    let planeSize: (width: Int, height: Int)
    private let rgb: Mutex<(any CompiledNetwork)?>
    private let device: String
    private let properties: [(String, String)]

    public init(modelPath: String, frameWidth: Int, frameHeight: Int, options: RunnerOptions = RunnerOptions(),
                engine: (any InferenceEngine)? = nil) throws(EPRError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir), !isDir.boolValue else {
            throw EPRError(.model, "model \(modelPath): file not found")
        }
        guard options.inFlight >= 1 else { throw EPRError(.config, "in-flight requests must be at least 1") }
        let sources = try ModelSources(modelPath: modelPath, flags: options.modelFacts)  // also rejects files that are no model
        let engine: any InferenceEngine = if let engine { engine } else { try OpenVINORuntime() }
        let shapes = try engine.shapes(ofModelAt: modelPath)
        let fallback = shapes.inputStatic ?? SegmentationRunner.defaultInputSize(frameWidth: frameWidth, frameHeight: frameHeight)
        let model = try sources.describe(classCount: shapes.classCount, fallbackSize: fallback)
        // A sidecar's input_size is the default --input-size (the metadata's is the training size).
        let sidecarSize = sources.sidecar.inputHeight.flatMap { h in sources.sidecar.inputWidth.map { (h, $0) } }

        // Input size: explicit, else the sidecar's, else the model's static size, else derived from the frame.
        var h: Int, w: Int
        switch (options.inputHeight, options.inputWidth) {
        case let (hh?, ww?): h = hh; w = ww
        case let (hh?, nil):
            h = hh; w = max(8, Int((Double(hh) * Double(frameWidth) / Double(max(frameHeight, 1)) / 8).rounded()) * 8)
        case let (nil, ww?):
            w = ww; h = max(8, Int((Double(ww) * Double(frameHeight) / Double(max(frameWidth, 1)) / 8).rounded()) * 8)
        case (nil, nil):
            (h, w) = sidecarSize ?? shapes.inputStatic ?? SegmentationRunner.defaultInputSize(frameWidth: frameWidth, frameHeight: frameHeight)
        }
        guard h > 0, w > 0 else { throw EPRError(.config, "input size \(h)x\(w) is not positive") }

        var props: [(String, String)] = []
        let hint = options.performanceHint ?? (options.inFlight > 1 ? "THROUGHPUT" : "LATENCY")
        props.append(("PERFORMANCE_HINT", hint))
        if let s = options.streams {
            props.append(("NUM_STREAMS", String(s)))
        } else if hint == "THROUGHPUT" {
            props.append(("NUM_STREAMS", String(options.inFlight)))
        }
        props.append(("PERFORMANCE_HINT_NUM_REQUESTS", String(options.inFlight)))
        if options.threads > 0 { props.append(("INFERENCE_NUM_THREADS", String(options.threads))) }
        if !options.precision.isEmpty { props.append(("INFERENCE_PRECISION_HINT", options.precision)) }

        // The network compiled now is the one frames of the announced size need.
        let input: EngineInput
        switch options.preprocessing {
        case .graph:
            let frameFits = I420Planes.fits(width: frameWidth, height: frameHeight)
            if I420Planes.fits(width: w, height: h) && !(options.resizeInGraph && frameFits) {
                input = .i420(width: w, height: h)
            } else {
                input = frameFits ? .i420(width: frameWidth, height: frameHeight) : .rgb8
            }
        case .host:
            input = .normalisedFloat
        }
        let network = try engine.compile(NetworkSpec(path: modelPath, height: h, width: w, input: input, mean: model.mean,
                                                     std: model.std, order: model.channelOrder, device: options.device,
                                                     properties: props))

        var settings: [String: String] = [:]
        for (k, v) in props { settings[k] = v }
        settings["preprocessing"] = options.preprocessing.rawValue
        for key in ["NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT",
                    "OPTIMAL_NUMBER_OF_INFER_REQUESTS"] {
            if let v = network.property(key) { settings["compiled." + key] = v }
        }

        self.model = model
        inputHeight = h
        inputWidth = w
        engineSettings = settings
        self.modelPath = modelPath
        preprocessing = options.preprocessing
        inFlight = options.inFlight
        self.engine = engine
        primaryNetwork = network
        if case .i420(let pw, let ph) = input { planeSize = (pw, ph) } else { planeSize = (0, 0) }
        rgb = Mutex(input == .rgb8 ? network : nil)
        device = options.device
        properties = props
    }

    /// A runner with its own requests on this model's networks.
    public func makeRunner() throws(EPRError) -> SegmentationRunner {
        try SegmentationRunner(model: self)
    }

    /// Networks the engine has compiled (with a shared engine: for every model it compiled).
    public var compilations: Int { engine.compilations }

    var classCount: Int { primaryNetwork.classCount }
    var outputHeight: Int { primaryNetwork.outputHeight }
    var outputWidth: Int { primaryNetwork.outputWidth }

    /// Whether `frame`'s yuv420p planes go into the planes network (copied, or resized by swscale).
    func takesPlanes(_ frame: VideoFrame) -> Bool {
        guard case .i420 = primaryNetwork.input, I420Planes.accepts(frame) else { return false }
        return (frame.width == planeSize.width && frame.height == planeSize.height)
            || (planeSize.width == inputWidth && planeSize.height == inputHeight)
    }

    /// Graph path: the network that takes u8 RGB at the network size, compiled on first use (the
    /// lock is held while compiling, so that runners asking at once share one compile).
    func rgbNetwork() throws(EPRError) -> any CompiledNetwork {
        try rgb.withLock { (slot) throws(EPRError) -> any CompiledNetwork in
            if let slot { return slot }
            let made = try engine.compile(NetworkSpec(path: modelPath, height: inputHeight, width: inputWidth, input: .rgb8,
                                                      mean: model.mean, std: model.std, order: model.channelOrder, device: device,
                                                      properties: properties))
            slot = made
            return made
        }
    }
}
