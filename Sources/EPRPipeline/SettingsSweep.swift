import EPRCore
import EPRInference
import EPRMedia
import Foundation

/// One OpenVINO configuration `eprstream bench --sweep` tries.
public struct InferenceCandidate: Sendable, Equatable {
    public var hint: String
    public var requests: Int
    /// NUM_STREAMS; nil: as the hint implies.
    public var streams: Int?

    public init(hint: String, requests: Int, streams: Int? = nil) {
        self.hint = hint
        self.requests = requests
        self.streams = streams
    }

    /// Both latency settings, and throughput with 2 to 4 requests on 2 or as many streams.
    public static let standard: [InferenceCandidate] = [
        InferenceCandidate(hint: "LATENCY", requests: 1),
        InferenceCandidate(hint: "LATENCY", requests: 2),
        InferenceCandidate(hint: "THROUGHPUT", requests: 2, streams: 1),
        InferenceCandidate(hint: "THROUGHPUT", requests: 2, streams: 2),
        InferenceCandidate(hint: "THROUGHPUT", requests: 3, streams: 3),
        InferenceCandidate(hint: "THROUGHPUT", requests: 4, streams: 2),
        InferenceCandidate(hint: "THROUGHPUT", requests: 4, streams: 4),
    ]

    public var label: String {
        "\(hint.lowercased()), \(requests) request\(requests == 1 ? "" : "s")"
            + (streams.map { ", \($0) stream\($0 == 1 ? "" : "s")" } ?? "")
    }
}

/// A candidate's measurement: the runner alone on frames in memory.
public struct SweepRow: Sendable {
    public var candidate: InferenceCandidate
    public var phase: BenchmarkPhase
    /// What OpenVINO compiled (NUM_STREAMS, INFERENCE_NUM_THREADS, ...).
    public var compiled: [String: String]
}

public struct SweepResult: Sendable {
    public var model: String
    public var inputSize: (height: Int, width: Int)
    public var frames: Int
    public var repeats: Int
    public var rows: [SweepRow]
    public var machine: String
    public var date: Date

    /// The fastest candidate (median fps).
    public var best: SweepRow? { rows.max { $0.phase.median < $1.phase.median } }

    public func jsonObject() -> [String: Any] {
        [
            "model": model, "input_size": [inputSize.height, inputSize.width], "frames": frames, "repeats": repeats,
            "machine": machine, "date": ISO8601DateFormatter().string(from: date),
            "chosen": best.map { $0.candidate.label } ?? "",
            "rows": rows.map { row -> [String: Any] in
                var o: [String: Any] = [
                    "hint": row.candidate.hint, "requests": row.candidate.requests,
                    "fps": BenchmarkResult.round(row.phase.median, 2),
                    "fps_runs": row.phase.runs.map { BenchmarkResult.round($0, 2) },
                    "cpu_ms_per_frame": BenchmarkResult.round(row.phase.cpuMsPerFrame, 2),
                    "compiled": row.compiled,
                ]
                if let s = row.candidate.streams { o["streams"] = s }
                return o
            },
        ]
    }
}

/// `eprstream bench --sweep`: the runner alone under each OpenVINO configuration, on the same
/// frames, the repeats interleaved across candidates so load drift hits them alike.
public enum SettingsSweep {
    public static func run(_ options: BenchmarkOptions, candidates: [InferenceCandidate] = InferenceCandidate.standard,
                           log: (String) -> Void = { _ in }) throws(EPRError) -> SweepResult {
        guard let modelPath = options.settings.modelPath else { throw EPRError(.model, "no model given (use --model PATH)") }
        guard options.frames > 0 else { throw EPRError(.config, "--frames must be positive, got \(options.frames)") }
        guard options.repeats > 0 else { throw EPRError(.config, "--repeats must be positive, got \(options.repeats)") }
        let started = Date()
        var sourceOptions = SourceOptions()
        sourceOptions.decoderThreads = options.settings.decoderThreads
        sourceOptions.videoOnly = true
        let source = try MediaSource(url: options.input, options: sourceOptions)
        var frames: [VideoFrame] = []
        while frames.count < options.frames, let item = try source.next() {
            if case .video(let frame) = item { frames.append(frame) }
        }
        let video = source.video
        source.close()
        guard !frames.isEmpty else { throw EPRError(.input, "no video frames in \(options.input)") }

        var runners: [SegmentationRunner] = []
        for candidate in candidates {
            var settings = options.settings
            settings.inferenceHint = candidate.hint
            settings.inferenceRequests = candidate.requests
            settings.inferenceStreams = candidate.streams
            let runner = try SegmentationRunner(modelPath: modelPath, frameWidth: video.width, frameHeight: video.height,
                                                options: settings.runnerOptions)
            for i in 0..<min(options.warmupFrames, frames.count) { _ = try runner.submit(frames[i]) }
            _ = try runner.drain()
            runners.append(runner)
        }
        log("model \(URL(fileURLWithPath: modelPath).lastPathComponent) at \(runners[0].inputHeight)x\(runners[0].inputWidth), "
            + "\(frames.count) frames, \(candidates.count) settings x \(options.repeats) repeats")
        var phases = Array(repeating: BenchmarkPhase(runs: [], cpuLoad: []), count: candidates.count)
        for r in 0..<options.repeats {
            for (i, runner) in runners.enumerated() {
                let (wall, cpu) = try Benchmark.timed { () throws(EPRError) in
                    for frame in frames { _ = try runner.submit(frame) }
                    _ = try runner.drain()
                }
                phases[i].runs.append(Double(frames.count) / wall)
                phases[i].cpuLoad.append(cpu / wall)
                log(candidates[i].label.padding(toLength: 36, withPad: " ", startingAt: 0)
                    + String(format: " %d/%d: %7.2f fps", r + 1, options.repeats, Double(frames.count) / wall))
            }
        }
        let rows = zip(candidates, zip(phases, runners)).map { candidate, pair in
            SweepRow(candidate: candidate, phase: pair.0,
                     compiled: pair.1.engineSettings.filter { $0.key.hasPrefix("compiled.") })
        }
        return SweepResult(model: modelPath, inputSize: (runners[0].inputHeight, runners[0].inputWidth),
                           frames: frames.count, repeats: options.repeats, rows: rows,
                           machine: Benchmark.machineDescription(), date: started)
    }
}
