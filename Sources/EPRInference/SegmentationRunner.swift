import EPRCore
import Foundation

public struct RunnerOptions: Sendable {
    /// Network input size; nil: the model's own size when its input is static, otherwise a short
    /// side of 360 keeping the frame's aspect ratio, rounded to a multiple of 8. Give both or neither
    /// (one alone keeps the frame's aspect ratio for the other, rounded to a multiple of 8).
    public var inputHeight: Int?
    public var inputWidth: Int?
    /// Inference threads; 0 = OpenVINO's default (all cores).
    public var threads: Int = 0
    /// Requests in flight (2 = double buffering: preprocess N+1 while N infers).
    public var inFlight: Int = 2
    public var device = "CPU"
    /// "LATENCY" or "THROUGHPUT"; nil picks: LATENCY for one request in flight, THROUGHPUT with one
    /// stream per request otherwise (measured faster on 2 cores, see SegmentationRunner).
    public var performanceHint: String?
    /// NUM_STREAMS override (nil: as the hint implies).
    public var streams: Int?
    /// INFERENCE_PRECISION_HINT; f32 by default (bf16, OpenVINO's default on this CPU, is slower here).
    public var precision = "f32"
    /// Where a frame becomes the network's input: in the compiled graph (default) or on the host.
    public var preprocessing = Preprocessing.graph
    /// Graph path, frames not at the network size: false (default) resizes the yuv420p planes with
    /// swscale straight into the graph's input; true resizes in the graph (OpenVINO Interpolate on
    /// the converted RGB: ~9 ms a 960x540 frame here, against ~1 ms for swscale on the planes).
    public var resizeInGraph = false
    /// Facts about the model given by flags (`--mean`, `--bgr`, ...): they win over a sidecar
    /// file beside the model, which wins over the model's own metadata.
    public var modelFacts = ModelFacts()

    public init() {}
}

/// Where colour conversion, resize and normalisation happen.
public enum Preprocessing: String, Sendable, CaseIterable {
    /// In the compiled graph (OpenVINO's PrePostProcessor): a yuv420p frame's planes go in as they
    /// are, as u8; RGB images go in as u8 RGB. No float picture on the host.
    case graph
    /// On the host: swscale to RGB24 at the network size, a Swift normalisation loop into a float
    /// tensor (the path before the graph took it over; kept to measure and check against).
    case host
}

/// The result for one frame: the frame itself and its own label map.
public struct Segmentation: Sendable {
    public let frame: VideoFrame
    /// Class id per pixel at the network's output size (= input size for EPRNet).
    public let labels: LabelMap
    public let preprocessSeconds: Double
    /// From starting the request to its completion being observed (includes time queued behind
    /// another request).
    public let inferSeconds: Double
    public let postprocessSeconds: Double
}

/// Runs a segmentation model on frames with `inFlight` asynchronous OpenVINO requests: each frame
/// goes into a free request's preallocated input tensors and is started at once, so feeding frame
/// N+1 overlaps inference of frame N. Results come back in submission order.
///
/// With `Preprocessing.graph` the model is compiled to take yuv420p planes as u8: BT.601
/// limited-range conversion and (x - mean) / std run inside the graph. A frame at the network size
/// goes in as it is (its planes copied); one of another size has its planes resized by swscale
/// straight into the input tensors (or, with `resizeInGraph`, the graph takes the frame size and
/// resizes). Frames that graph would not convert as swscale does (BT.709 or full-range tags, other
/// pixel formats) and RGB images take a second graph, compiled when first needed, that takes u8
/// RGB at the network size from swscale. The argmax stays on the
/// host: with a TopK appended in the graph the model ran 0.86x as fast (Benchmarks/graph_argmax.py),
/// and the SIMD argmax costs ~1.5 ms a frame.
///
/// Compiled for CPU with INFERENCE_PRECISION_HINT f32 (OpenVINO would pick bf16 here, which is
/// slower on this CPU), PERFORMANCE_HINT LATENCY for one request in flight, THROUGHPUT with one
/// stream per request otherwise: with two requests on 2 cores, 2 streams ran 1.15-2.1x faster than
/// one LATENCY stream serving both (EPRNet 360x640, fp32 and int8, measured on a loaded machine).
///
/// Not meant to be driven from several threads at once; calls are serialised by a lock.
public final class SegmentationRunner: @unchecked Sendable {
    public let model: ModelDescription
    public let inputHeight: Int
    public let inputWidth: Int
    /// Settings the engine was compiled with, and what OpenVINO reports back (NUM_STREAMS, ...).
    public let engineSettings: [String: String]
    public let modelPath: String
    public let preprocessing: Preprocessing

    /// What compiling another engine for this model needs.
    private struct CompileSpec {
        var device: String
        var properties: [(String, String)]
        var requests: Int
    }
    private let spec: CompileSpec
    /// Graph path: takes yuv420p planes of `planeSize` (nil when no even size fits).
    private let frameEngine: OpenVINOEngine?
    private let planeSize: (width: Int, height: Int)
    private var resizer: I420Resizer?
    /// Graph path: u8 RGB at the network size (compiled when first needed); host path: the float
    /// engine that takes everything.
    private var rgbEngine: OpenVINOEngine?
    private var converter: RGBConverter?
    private let hostPreprocessor: Preprocessor?
    private let lock = NSLock()

    private struct Pending {
        let engine: OpenVINOEngine
        let request: Int
        let frame: VideoFrame
        let preprocess: Double
        let started: UInt64
    }
    private var pending: [Pending] = []   // oldest first
    private var nextRequest = 0
    private var ready: [Segmentation] = []  // finished by segment(), returned by the next submit/drain

    public init(modelPath: String, frameWidth: Int, frameHeight: Int,
                options: RunnerOptions = RunnerOptions()) throws(EPRError) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir), !isDir.boolValue else {
            throw EPRError(.model, "model \(modelPath): file not found")
        }
        guard options.inFlight >= 1 else { throw EPRError(.config, "in-flight requests must be at least 1") }
        let sources = try ModelSources(modelPath: modelPath, flags: options.modelFacts)  // also rejects files that are no model
        let engine = try OpenVINOEngine(path: modelPath)
        let shapes = try engine.shapes()
        let fallback = shapes.inputStatic ?? SegmentationRunner.defaultInputSize(frameWidth: frameWidth, frameHeight: frameHeight)
        model = try sources.describe(classCount: shapes.classCount, fallbackSize: fallback)
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
        spec = CompileSpec(device: options.device, properties: props, requests: options.inFlight)
        inputHeight = h
        inputWidth = w
        self.modelPath = modelPath
        preprocessing = options.preprocessing

        // The engine compiled now is the one frames of the announced size need.
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
        if case .i420(let pw, let ph) = input { planeSize = (pw, ph) } else { planeSize = (0, 0) }
        try engine.compile(height: h, width: w, input: input, mean: model.mean, std: model.std, order: model.channelOrder,
                           device: spec.device, properties: props, requests: spec.requests)
        if case .i420 = input {
            frameEngine = engine
        } else {
            frameEngine = nil
            rgbEngine = engine
        }
        hostPreprocessor = options.preprocessing == .host
            ? Preprocessor(width: w, height: h, mean: model.mean, std: model.std, order: model.channelOrder) : nil

        var settings: [String: String] = [:]
        for (k, v) in props { settings[k] = v }
        settings["preprocessing"] = options.preprocessing.rawValue
        for key in ["NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT",
                    "OPTIMAL_NUMBER_OF_INFER_REQUESTS"] {
            if let v = engine.compiledProperty(key) { settings["compiled." + key] = v }
        }
        engineSettings = settings
    }

    /// Short side 360 with the frame's aspect ratio, the other side rounded to a multiple of 8
    /// (960x540 -> 360x640, 480x360 -> 360x480, 1280x720 -> 360x640, portrait 540x960 -> 640x360).
    public static func defaultInputSize(frameWidth: Int, frameHeight: Int) -> (height: Int, width: Int) {
        let short = 360
        guard frameWidth > 0, frameHeight > 0 else { return (short, short) }
        func long(_ a: Int, _ b: Int) -> Int {
            max(8, Int((Double(short) * Double(a) / Double(b) / 8).rounded()) * 8)
        }
        if frameWidth >= frameHeight {
            return (short, long(frameWidth, frameHeight))
        }
        return (long(frameHeight, frameWidth), short)
    }

    /// Number of requests (the most frames in flight at once).
    public var inFlight: Int { spec.requests }

    /// Whether `frame`'s yuv420p planes go into the graph (copied, or resized by swscale), with no
    /// colour conversion on the host.
    public func takesPlanes(_ frame: VideoFrame) -> Bool {
        guard frameEngine != nil, I420Planes.accepts(frame) else { return false }
        return (frame.width == planeSize.width && frame.height == planeSize.height) || planesAtNetworkSize
    }

    private var planesAtNetworkSize: Bool { planeSize.width == inputWidth && planeSize.height == inputHeight }

    /// Writes `frame` into request `request`'s inputs of the engine that takes it; returns that engine.
    private func feed(_ frame: VideoFrame, request: Int) throws(EPRError) -> OpenVINOEngine {
        if let host = hostPreprocessor, let engine = rgbEngine {
            try host.run(frame, into: engine.inputBuffer(request, plane: 0).assumingMemoryBound(to: Float.self))
            return engine
        }
        if let engine = frameEngine, takesPlanes(frame) {
            if frame.width == planeSize.width && frame.height == planeSize.height {
                I420Planes.copy(frame, into: engine.inputBuffers(request))
            } else {
                let resizer = self.resizer ?? I420Resizer(width: planeSize.width, height: planeSize.height)
                self.resizer = resizer
                try resizer.resize(frame, into: engine.inputBuffers(request))
            }
            return engine
        }
        let engine = try rgbGraphEngine()
        let converter = rgbConverter()
        try converter.convert(frame)
        copyRows(converter.rgb, stride: converter.stride, rowBytes: inputWidth * 3, rows: inputHeight,
                 into: engine.inputBuffer(request, plane: 0))
        return engine
    }

    /// Writes a packed RGB24 image into request `request`'s input; returns the engine that takes it.
    private func feed(rgb image: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int,
                      request: Int) throws(EPRError) -> OpenVINOEngine {
        if let host = hostPreprocessor, let engine = rgbEngine {
            try host.run(rgb: image, width: width, height: height, stride: stride,
                         into: engine.inputBuffer(request, plane: 0).assumingMemoryBound(to: Float.self))
            return engine
        }
        let engine = try rgbGraphEngine()
        let destination = engine.inputBuffer(request, plane: 0)
        if width == inputWidth && height == inputHeight {
            copyRows(image, stride: stride, rowBytes: width * 3, rows: height, into: destination)
        } else {
            let converter = rgbConverter()
            try converter.convert(rgb: image, width: width, height: height, stride: stride)
            copyRows(converter.rgb, stride: converter.stride, rowBytes: inputWidth * 3, rows: inputHeight, into: destination)
        }
        return engine
    }

    private func rgbGraphEngine() throws(EPRError) -> OpenVINOEngine {
        if let rgbEngine { return rgbEngine }
        let engine = try OpenVINOEngine(path: modelPath)
        try engine.compile(height: inputHeight, width: inputWidth, input: .rgb8, mean: model.mean, std: model.std,
                           order: model.channelOrder, device: spec.device, properties: spec.properties, requests: spec.requests)
        rgbEngine = engine
        return engine
    }

    private func rgbConverter() -> RGBConverter {
        if let converter { return converter }
        let made = RGBConverter(width: inputWidth, height: inputHeight)
        converter = made
        return made
    }

    /// Feeds `frame` into a free request and starts it. When every request is busy it first waits
    /// for the oldest and returns its result. Results come in submission order.
    public func submit(_ frame: VideoFrame) throws(EPRError) -> [Segmentation] {
        lock.lock(); defer { lock.unlock() }
        // Finished results wait in `ready` until returned, so an error below loses none of them.
        if pending.count == spec.requests {
            ready.append(try finishOldest())
        }
        let request = nextRequest
        let t0 = DispatchTime.now().uptimeNanoseconds
        let engine = try feed(frame, request: request)
        let t1 = DispatchTime.now().uptimeNanoseconds
        try engine.start(request)
        pending.append(Pending(engine: engine, request: request, frame: frame, preprocess: Self.seconds(t1 - t0), started: t1))
        nextRequest = (nextRequest + 1) % spec.requests
        let out = ready
        ready.removeAll()
        return out
    }

    /// Waits for everything in flight; results in submission order.
    public func drain() throws(EPRError) -> [Segmentation] {
        lock.lock(); defer { lock.unlock() }
        return try drainLocked()
    }

    private func drainLocked() throws(EPRError) -> [Segmentation] {
        while !pending.isEmpty { ready.append(try finishOldest()) }
        let out = ready
        ready.removeAll()
        return out
    }

    /// Synchronous segmentation of one frame (anything in flight is finished first and its results
    /// are returned by the next `submit` or `drain`).
    public func segment(_ frame: VideoFrame) throws(EPRError) -> LabelMap {
        lock.lock(); defer { lock.unlock() }
        ready = try drainLocked()
        let request = nextRequest
        let engine = try feed(frame, request: request)
        try engine.infer(request)
        return try labels(engine, request)
    }

    /// Synchronous segmentation of a packed RGB24 image (eval: CamVid images go in as training saw
    /// them, with no YUV round trip). Resized bilinearly when not at the network size.
    public func segment(rgb: [UInt8], width: Int, height: Int) throws(EPRError) -> LabelMap {
        guard width > 0, height > 0, rgb.count >= width * height * 3 else {
            throw EPRError(.input, "RGB image of \(rgb.count) bytes is too small for \(width)x\(height)")
        }
        return try rgb.withUnsafeBufferPointer { (p) throws(EPRError) -> LabelMap in
            try segment(rgb: p.baseAddress!, width: width, height: height, stride: width * 3)
        }
    }

    public func segment(rgb: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int) throws(EPRError) -> LabelMap {
        lock.lock(); defer { lock.unlock() }
        ready = try drainLocked()
        let request = nextRequest
        let engine = try feed(rgb: rgb, width: width, height: height, stride: stride, request: request)
        try engine.infer(request)
        return try labels(engine, request)
    }

    private func finishOldest() throws(EPRError) -> Segmentation {
        let p = pending.removeFirst()
        try p.engine.wait(p.request)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let map = try labels(p.engine, p.request)
        let t2 = DispatchTime.now().uptimeNanoseconds
        return Segmentation(frame: p.frame, labels: map, preprocessSeconds: p.preprocess,
                            inferSeconds: Self.seconds(t1 - p.started), postprocessSeconds: Self.seconds(t2 - t1))
    }

    private func labels(_ engine: OpenVINOEngine, _ request: Int) throws(EPRError) -> LabelMap {
        let w = engine.outputWidth, h = engine.outputHeight, k = engine.classCount
        // Every byte is written by argmax: no zero fill first.
        let labels = try engine.withOutput(request) { scores in
            [UInt8](unsafeUninitializedCapacity: w * h) { buffer, initialised in
                argmax(scores, classes: k, count: w * h, into: buffer.baseAddress!)
                initialised = w * h
            }
        }
        return LabelMap(width: w, height: h, labels: labels)
    }

    private static func seconds(_ ns: UInt64) -> Double { Double(ns) / 1e9 }
}
