import EPRCore
import EPRInference
import EPROverlay
import Foundation

/// Everything that tunes a run, in one place: which model, the network input, the overlay, the
/// queue sizes between stages and the encoder. Filled from defaults, then a preset file, then flags.
public struct PipelineSettings: Sendable, Equatable {
    public var modelPath: String?
    /// What flags say about the model (`--mean`, `--std`, `--bgr`, `--class-names`, ...): over
    /// its sidecar file and its own metadata.
    public var modelFacts = ModelFacts()
    /// Network input (height, width); nil = derived from the frame (short side 360, multiple of 8).
    public var inputHeight: Int?
    public var inputWidth: Int?
    public var overlayMode: OverlayMode = .blend
    public var alpha: Float = 0.5
    /// Classes to draw (names or ids); nil = all.
    public var classes: [String]?
    /// A palette file replacing the model's class names and colours.
    public var palettePath: String?
    public var showLegend = true
    public var showStats = true
    /// Copy the input's audio (files: every stream; live: the first) to the output.
    public var audio = true
    /// Turn pictures upright per the input's display matrix before inference (phone videos).
    public var autorotate = true
    /// A complete recording from the same camera, whose parameters recover an input cut before
    /// its index was written (`TruncatedMP4`).
    public var reference: String?
    /// Serve the annotated video to web browsers at this "PORT" or "HOST:PORT" (BrowserPreview).
    public var previewAddress: String?
    /// The stream's name in metrics (label `stream`) and per-frame metadata.
    public var streamID = "main"
    /// Per-frame metadata as JSON lines to this file, or "-" for stdout (FrameMetadata.swift).
    public var metadataPath: String?
    /// Regions whose class shares the metadata adds (preset key `metadata.zones`).
    public var zones: [Zone] = []

    /// Ids name streams in URLs, labels and file names: letters, digits, '-', '_', '.', not "." or "..".
    public static func isValidStreamID(_ id: String) -> Bool {
        (1...64).contains(id.count) && id != "." && id != ".."
            && id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    public var frameQueueCapacity = 4
    public var segmentedQueueCapacity = 4
    public var encodeQueueCapacity = 4
    public var audioQueueCapacity = 512

    /// Requests in flight in the runner (2 = double buffering).
    public var inferenceRequests = 2
    /// 0 = OpenVINO's choice (all cores, one stream per request).
    public var inferenceThreads = 0
    /// OpenVINO PERFORMANCE_HINT ("LATENCY", "THROUGHPUT"); nil: the runner's choice by requests.
    public var inferenceHint: String?
    /// OpenVINO NUM_STREAMS; nil: as the hint implies (one per request with THROUGHPUT).
    public var inferenceStreams: Int?
    /// Colour conversion, resize and normalisation in the compiled graph (default) or on the host.
    public var preprocessing = Preprocessing.graph
    /// One decoder thread and one x264 thread: on 2 cores inference owns both, and decode (~2 ms a
    /// 540p frame) and encode run beside it on their own stage threads; FFmpeg's and x264's
    /// automatic counts (cores + 1, 1.5 x cores + lookahead) only oversubscribe (issue 6).
    public var decoderThreads = 1

    /// x264 ultrafast: ~4x less CPU per frame than veryfast here (4 vs 17 ms at 960x540), which
    /// inference needs more; about 2x the bitrate at the same CRF.
    public var encoderPreset = "ultrafast"
    public var encoderCRF = 23
    public var encoderThreads = 1

    /// Record the file output in segments of this many seconds (`SegmentedRecorder`); nil = one file.
    public var segmentSeconds: Double?
    /// Which segments to keep; nil = all.
    public var retention: Retention?
    /// Run the network on every Nth frame; the frames between get its mask carried by the codec's
    /// motion vectors (`propagateMasks`) or reused unchanged. 1 = every frame.
    public var inferEvery = 1
    /// `--infer-every auto`: the network runs as often as the machine allows, beside the frames
    /// (`AdaptiveSegmenter`), one request at a time. nil = not given: auto for live sources,
    /// `inferEvery` for files.
    public var inferAuto: Bool?
    public var propagateMasks = true
    /// Files with `inferEvery` above 1: a frame between takes the nearer inferred frame's mask, the
    /// later one carried back (`--propagate bidirectional`; it waits for the next inferred frame).
    public var propagateBothWays = false
    /// Each mask is the per-pixel vote of the last this many (`MaskSmoother`); 1 = no smoothing.
    public var smoothMasks = 1

    public var maxFrames: Int?
    /// Stop after this many seconds of wall time (live sources; files too).
    public var durationSeconds: Double?

    // Live sources (RTSP, ...): the frame queue keeps only the newest frames and counts drops.
    public var liveFrameQueueCapacity = 2
    /// "tcp" or "udp".
    public var rtspTransport = "tcp"
    /// No blocking network call may take longer; a source silent this long is stalled.
    public var stallTimeout = 5.0
    /// Failed reconnect attempts in a row before giving up; nil = forever.
    public var maxReconnects: Int?

    public init() {}

    /// The runner options these settings ask for.
    public var runnerOptions: RunnerOptions {
        var o = RunnerOptions()
        o.inputHeight = inputHeight
        o.inputWidth = inputWidth
        o.threads = inferenceThreads
        o.inFlight = inferenceRequests
        o.performanceHint = inferenceHint
        o.streams = inferenceStreams
        o.preprocessing = preprocessing
        o.modelFacts = modelFacts
        return o
    }

    /// Whether the network runs with `auto` for this input (live sources by default).
    public func infersAuto(live: Bool) -> Bool { inferAuto ?? live }

    /// "auto" (nil) or a count of at least 1 (`key` names the flag or preset key in the error).
    public static func parseInferEvery(_ text: String, key: String) throws(EPRError) -> Int? {
        if text.lowercased() == "auto" { return nil }
        guard let n = Int(text), n >= 1 else { throw EPRError(.config, "\(key): expected auto or a whole number of at least 1, got '\(text)'") }
        return n
    }

    /// "graph" or "host" (`key` names the flag or preset key in the error).
    public static func parsePreprocessing(_ text: String, key: String) throws(EPRError) -> Preprocessing {
        guard let p = Preprocessing(rawValue: text.lowercased()) else {
            throw EPRError(.config, "\(key): expected graph or host, got '\(text)'")
        }
        return p
    }

    /// "LATENCY" or "THROUGHPUT", any case.
    public static func parseHint(_ text: String, key: String) throws(EPRError) -> String {
        let hint = text.uppercased()
        guard hint == "LATENCY" || hint == "THROUGHPUT" else {
            throw EPRError(.config, "\(key): expected latency or throughput, got '\(text)'")
        }
        return hint
    }

    /// Parses a class filter, "Road,Car,8": names or ids, checked against the model when it loads.
    public static func parseClasses(_ text: String) throws(EPRError) -> [String] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw EPRError(.config, "no classes given in '\(text)': expected names or ids, e.g. Road,Car") }
        return names
    }

    /// Parses "HxW" (e.g. "360x480"); both must be positive multiples of 8.
    public static func parseInputSize(_ text: String) throws(EPRError) -> (height: Int, width: Int) {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let h = Int(parts[0]), let w = Int(parts[1]) else {
            throw EPRError(.config, "bad input size '\(text)': expected HxW, e.g. 360x480")
        }
        guard h > 0, w > 0, h % 8 == 0, w % 8 == 0 else {
            throw EPRError(.config, "bad input size '\(text)': height and width must be positive multiples of 8")
        }
        return (h, w)
    }
}
