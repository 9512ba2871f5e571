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

    public init() {}
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
/// is preprocessed into a free request's preallocated input tensor and started at once, so
/// preprocessing frame N+1 overlaps inference of frame N. Results come back in submission order.
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

    private let engine: OpenVINOEngine
    private let preprocessor: Preprocessor
    private let lock = NSLock()

    private struct Pending {
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
        let meta = try ModelMetadata.read(path: modelPath)  // also rejects files that are no model
        let engine = try OpenVINOEngine(path: modelPath)
        let shapes = try engine.shapes()
        let fallback = shapes.inputStatic ?? SegmentationRunner.defaultInputSize(frameWidth: frameWidth, frameHeight: frameHeight)
        model = try ModelMetadata.describe(meta, path: modelPath, classCount: shapes.classCount, fallbackSize: fallback)

        // Input size: explicit, else the model's static size, else derived from the frame.
        var h: Int, w: Int
        switch (options.inputHeight, options.inputWidth) {
        case let (hh?, ww?): h = hh; w = ww
        case let (hh?, nil):
            h = hh; w = max(8, Int((Double(hh) * Double(frameWidth) / Double(max(frameHeight, 1)) / 8).rounded()) * 8)
        case let (nil, ww?):
            w = ww; h = max(8, Int((Double(ww) * Double(frameHeight) / Double(max(frameWidth, 1)) / 8).rounded()) * 8)
        case (nil, nil):
            (h, w) = shapes.inputStatic ?? SegmentationRunner.defaultInputSize(frameWidth: frameWidth, frameHeight: frameHeight)
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

        try engine.compile(height: h, width: w, device: options.device, properties: props, requests: options.inFlight)
        self.engine = engine
        inputHeight = h
        inputWidth = w
        self.modelPath = modelPath
        preprocessor = Preprocessor(width: w, height: h, mean: model.mean, std: model.std)
        var settings: [String: String] = [:]
        for (k, v) in props { settings[k] = v }
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
    public var inFlight: Int { engine.requestCount }

    /// Preprocesses `frame` into a free request's input tensor and starts it. When every request is
    /// busy it first waits for the oldest and returns its result. Results come in submission order.
    public func submit(_ frame: VideoFrame) throws(EPRError) -> [Segmentation] {
        lock.lock(); defer { lock.unlock() }
        // Finished results wait in `ready` until returned, so an error below loses none of them.
        if pending.count == engine.requestCount {
            ready.append(try finishOldest())
        }
        let request = nextRequest
        let t0 = DispatchTime.now().uptimeNanoseconds
        try preprocessor.run(frame, into: engine.input(request))
        let t1 = DispatchTime.now().uptimeNanoseconds
        try engine.start(request)
        pending.append(Pending(request: request, frame: frame, preprocess: Self.seconds(t1 - t0), started: t1))
        nextRequest = (nextRequest + 1) % engine.requestCount
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
        try preprocessor.run(frame, into: engine.input(request))
        try engine.infer(request)
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
        let request = nextRequest
        try preprocessor.run(rgb: rgb, width: width, height: height, stride: stride, into: engine.input(request))
        try engine.infer(request)
        return try labels(request)
    }

    private func finishOldest() throws(EPRError) -> Segmentation {
        let p = pending.removeFirst()
        try engine.wait(p.request)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let map = try labels(p.request)
        let t2 = DispatchTime.now().uptimeNanoseconds
        return Segmentation(frame: p.frame, labels: map, preprocessSeconds: p.preprocess,
                            inferSeconds: Self.seconds(t1 - p.started), postprocessSeconds: Self.seconds(t2 - t1))
    }

    private func labels(_ request: Int) throws(EPRError) -> LabelMap {
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
