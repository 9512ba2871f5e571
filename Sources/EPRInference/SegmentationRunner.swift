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
/// The compiled networks live in a `CompiledSegmentationModel`, which several runners may share
/// (one per stream); each runner has its own requests. One runner is not meant to be driven from
/// several threads at once; its calls are serialised by a lock.
public final class SegmentationRunner: @unchecked Sendable {  // all mutable state is behind `lock`
    /// The compiled model this runner's requests come from (shared with any other runner of it).
    public let compiled: CompiledSegmentationModel
    public var model: ModelDescription { compiled.model }
    public var inputHeight: Int { compiled.inputHeight }
    public var inputWidth: Int { compiled.inputWidth }
    /// Settings the engine was compiled with, and what OpenVINO reports back (NUM_STREAMS, ...).
    public var engineSettings: [String: String] { compiled.engineSettings }
    public var modelPath: String { compiled.modelPath }
    public var preprocessing: Preprocessing { compiled.preprocessing }

    /// This runner's requests on the network that takes the frames' planes (graph path) or the
    /// float tensor (host path); those on the RGB network are made when first needed.
    private let frameRequests: [any InferRequest]
    private var rgbRequests: [any InferRequest]?
    private var resizer: I420Resizer?
    private var converter: RGBConverter?
    private let hostPreprocessor: Preprocessor?
    private let lock = NSLock()

    private struct Pending {
        let request: any InferRequest
        let frame: VideoFrame
        let preprocess: Double
        let started: UInt64
    }
    private var pending: [Pending] = []   // oldest first
    private var nextRequest = 0
    private var ready: [Segmentation] = []  // finished by segment(), returned by the next submit/drain

    /// A runner with its own `model.inFlight` requests on a shared compiled model.
    public init(model: CompiledSegmentationModel) throws(EPRError) {
        compiled = model
        var requests: [any InferRequest] = []
        for _ in 0..<model.inFlight { requests.append(try model.primaryNetwork.makeRequest()) }
        frameRequests = requests
        if model.primaryNetwork.input == .rgb8 { rgbRequests = requests }
        hostPreprocessor = model.preprocessing == .host
            ? Preprocessor(width: model.inputWidth, height: model.inputHeight, mean: model.model.mean, std: model.model.std,
                           order: model.model.channelOrder)
            : nil
    }

    /// A runner on a model compiled for it alone.
    public convenience init(modelPath: String, frameWidth: Int, frameHeight: Int,
                            options: RunnerOptions = RunnerOptions()) throws(EPRError) {
        try self.init(model: CompiledSegmentationModel(modelPath: modelPath, frameWidth: frameWidth,
                                                       frameHeight: frameHeight, options: options))
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
    public var inFlight: Int { compiled.inFlight }
    /// The label maps' size: the network's output, before any resize to the frame.
    public var labelSize: (width: Int, height: Int) { (compiled.outputWidth, compiled.outputHeight) }

    /// Whether `frame`'s yuv420p planes go into the graph (copied, or resized by swscale), with no
    /// colour conversion on the host.
    public func takesPlanes(_ frame: VideoFrame) -> Bool { compiled.takesPlanes(frame) }

    /// Writes `frame` into request number `index` of the network that takes it; returns that request.
    private func feed(_ frame: VideoFrame, request index: Int) throws(EPRError) -> any InferRequest {
        if let host = hostPreprocessor {
            let request = frameRequests[index]
            try host.run(frame, into: request.inputBuffer(plane: 0).assumingMemoryBound(to: Float.self))
            return request
        }
        if takesPlanes(frame) {
            let request = frameRequests[index], planes = compiled.planeSize
            if frame.width == planes.width && frame.height == planes.height {
                I420Planes.copy(frame, into: request.inputBuffers)
            } else {
                let resizer = self.resizer ?? I420Resizer(width: planes.width, height: planes.height)
                self.resizer = resizer
                try resizer.resize(frame, into: request.inputBuffers)
            }
            return request
        }
        let request = try rgbRequest(index)
        let converter = rgbConverter()
        try converter.convert(frame)
        copyRows(converter.rgb, stride: converter.stride, rowBytes: inputWidth * 3, rows: inputHeight,
                 into: request.inputBuffer(plane: 0))
        return request
    }

    /// Writes a packed RGB24 image into request number `index` of the network that takes it;
    /// returns that request.
    private func feed(rgb image: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int,
                      request index: Int) throws(EPRError) -> any InferRequest {
        if let host = hostPreprocessor {
            let request = frameRequests[index]
            try host.run(rgb: image, width: width, height: height, stride: stride,
                         into: request.inputBuffer(plane: 0).assumingMemoryBound(to: Float.self))
            return request
        }
        let request = try rgbRequest(index)
        let destination = request.inputBuffer(plane: 0)
        if width == inputWidth && height == inputHeight {
            copyRows(image, stride: stride, rowBytes: width * 3, rows: height, into: destination)
        } else {
            let converter = rgbConverter()
            try converter.convert(rgb: image, width: width, height: height, stride: stride)
            copyRows(converter.rgb, stride: converter.stride, rowBytes: inputWidth * 3, rows: inputHeight, into: destination)
        }
        return request
    }

    /// Graph path: request number `index` on the u8 RGB network (the model compiles that network
    /// once, for every runner, when one first needs it).
    private func rgbRequest(_ index: Int) throws(EPRError) -> any InferRequest {
        if let rgbRequests { return rgbRequests[index] }
        let network = try compiled.rgbNetwork()
        var made: [any InferRequest] = []
        for _ in 0..<compiled.inFlight { made.append(try network.makeRequest()) }
        rgbRequests = made
        return made[index]
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
        if pending.count == inFlight {
            ready.append(try finishOldest())
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let request = try feed(frame, request: nextRequest)
        let t1 = DispatchTime.now().uptimeNanoseconds
        try request.start()
        pending.append(Pending(request: request, frame: frame, preprocess: Self.seconds(t1 - t0), started: t1))
        nextRequest = (nextRequest + 1) % inFlight
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
        let request = try feed(frame, request: nextRequest)
        try request.infer()
        return try labels(request)
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
        let request = try feed(rgb: rgb, width: width, height: height, stride: stride, request: nextRequest)
        try request.infer()
        return try labels(request)
    }

    private func finishOldest() throws(EPRError) -> Segmentation {
        let p = pending.removeFirst()
        try p.request.wait()
        let t1 = DispatchTime.now().uptimeNanoseconds
        let map = try labels(p.request)
        let t2 = DispatchTime.now().uptimeNanoseconds
        return Segmentation(frame: p.frame, labels: map, preprocessSeconds: p.preprocess,
                            inferSeconds: Self.seconds(t1 - p.started), postprocessSeconds: Self.seconds(t2 - t1))
    }

    private func labels(_ request: any InferRequest) throws(EPRError) -> LabelMap {
        let w = compiled.outputWidth, h = compiled.outputHeight, k = compiled.classCount
        // Every byte is written by argmax: no zero fill first.
        let labels = try request.withOutput { scores in
            [UInt8](unsafeUninitializedCapacity: w * h) { buffer, initialised in
                argmax(scores, classes: k, count: w * h, into: buffer.baseAddress!)
                initialised = w * h
            }
        }
        return LabelMap(width: w, height: h, labels: labels)
    }

    private static func seconds(_ ns: UInt64) -> Double { Double(ns) / 1e9 }
}
