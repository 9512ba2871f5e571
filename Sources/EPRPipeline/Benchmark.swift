import CFFmpeg
import EPRCore
import EPRInference
import EPRMedia
import Foundation

/// What `Benchmark.run` measures and with which settings.
public struct BenchmarkOptions: Sendable {
    public var input: String
    /// Pipeline settings shared by the three measurements (model, input size, threads, encoder);
    /// `maxFrames` is overridden by `frames`.
    public var settings: PipelineSettings
    /// Frames per measurement (fewer when the input is shorter).
    public var frames = 200
    /// Repeats of each measurement; the median is reported.
    public var repeats = 3
    /// Frames segmented (and discarded) before the runner is timed, so compilation caches and
    /// thread pools are warm.
    public var warmupFrames = 8
    /// The full pipeline again with the network on every Nth frame for each of these (nil: auto),
    /// interleaved with the rest (`bench --infer-every 1,2,3,auto`).
    public var schedules: [Int?] = []
    /// Folder for the temporary encodes; nil: the system temporary folder.
    public var scratchFolder: String?

    public init(input: String, settings: PipelineSettings) {
        self.input = input
        self.settings = settings
    }
}

/// One measurement's repeats.
public struct BenchmarkPhase: Sendable, Codable {
    /// Frames per second of each repeat.
    public var runs: [Double]
    /// Process CPU seconds per wall second of each repeat (2.0 = both cores of two busy).
    public var cpuLoad: [Double]

    public var median: Double { Benchmark.median(runs) }
    /// Process CPU milliseconds per frame (median repeat): what a frame costs whatever else runs.
    public var cpuMsPerFrame: Double {
        let each = zip(runs, cpuLoad).map { fps, load in fps > 0 ? load / fps * 1000 : 0 }
        return Benchmark.median(each)
    }
}

/// Process CPU time from the first mark (the pipeline's first progress report comes at once,
/// after set-up), so model compilation is not counted.
final class CPUClock: @unchecked Sendable {
    private let lock = NSLock()
    private var start: Double?
    init() {}
    func markIfFirst() {
        lock.lock(); defer { lock.unlock() }
        if start == nil { start = Benchmark.processCPUSeconds() }
    }
    func elapsed() -> Double {
        lock.lock(); defer { lock.unlock() }
        return Benchmark.processCPUSeconds() - (start ?? 0)
    }
}

/// Results of `eprstream bench`: the runner alone, decode + encode alone, and the full pipeline,
/// measured in turn in one process on the same frames.
public struct BenchmarkResult: Sendable {
    public var input: String
    public var model: String
    public var inputSize: (height: Int, width: Int)
    public var frameSize: (width: Int, height: Int)
    public var frames: Int
    public var repeats: Int
    public var runner: BenchmarkPhase
    public var decodeEncode: BenchmarkPhase
    public var pipeline: BenchmarkPhase
    /// The full pipeline under each of `BenchmarkOptions.schedules`, with the network's runs per second.
    public var schedules: [ScheduleRow] = []
    /// Busy seconds per frame of each stage in the full pipeline (median repeat).
    public var stageMsPerFrame: [(stage: String, ms: Double)]
    public var engineSettings: [String: String]
    public var encoder: String
    public var date: Date
    public var machine: String
    /// 1-minute load average when the run started and ended (another process's load skews fps).
    public var loadBefore: Double?
    public var loadAfter: Double?

    public var runnerFPS: Double { runner.median }
    public var decodeEncodeFPS: Double { decodeEncode.median }
    public var pipelineFPS: Double { pipeline.median }
    /// Full pipeline fps / runner-alone fps (1.0: the pipeline hides everything but inference).
    public var ratio: Double { runnerFPS > 0 ? pipelineFPS / runnerFPS : 0 }

    /// The `--json` document.
    public func jsonObject() -> [String: Any] {
        var stages: [String: Double] = [:]
        for s in stageMsPerFrame { stages[s.stage] = Self.round(s.ms, 3) }
        let formatter = ISO8601DateFormatter()
        var object: [String: Any] = [
            "runner_fps": Self.round(runnerFPS, 2),
            "decode_encode_fps": Self.round(decodeEncodeFPS, 2),
            "pipeline_fps": Self.round(pipelineFPS, 2),
            "ratio": Self.round(ratio, 3),
            "runner_fps_runs": runner.runs.map { Self.round($0, 2) },
            "decode_encode_fps_runs": decodeEncode.runs.map { Self.round($0, 2) },
            "pipeline_fps_runs": pipeline.runs.map { Self.round($0, 2) },
            "runner_cpu_load": runner.cpuLoad.map { Self.round($0, 2) },
            "decode_encode_cpu_load": decodeEncode.cpuLoad.map { Self.round($0, 2) },
            "pipeline_cpu_load": pipeline.cpuLoad.map { Self.round($0, 2) },
            "runner_cpu_ms_per_frame": Self.round(runner.cpuMsPerFrame, 2),
            "decode_encode_cpu_ms_per_frame": Self.round(decodeEncode.cpuMsPerFrame, 2),
            "pipeline_cpu_ms_per_frame": Self.round(pipeline.cpuMsPerFrame, 2),
            "stage_ms_per_frame": stages,
            "model": model,
            "input_size": [inputSize.height, inputSize.width],
            "frame_size": [frameSize.width, frameSize.height],
            "input": input,
            "frames": frames,
            "repeats": repeats,
            "engine": engineSettings,
            "encoder": encoder,
            "date": formatter.string(from: date),
            "machine": machine,
        ]
        if !schedules.isEmpty {
            object["schedules"] = schedules.map { row -> [String: Any] in
                ["infer_every": row.inferEvery.map { String($0) } ?? "auto",
                 "pipeline_fps": Self.round(row.phase.median, 2),
                 "pipeline_fps_runs": row.phase.runs.map { Self.round($0, 2) },
                 "ratio_to_runner": Self.round(runnerFPS > 0 ? row.phase.median / runnerFPS : 0, 3),
                 "network_runs_per_second": Self.round(Benchmark.median(row.networkRunsPerSecond), 2),
                 "pipeline_cpu_ms_per_frame": Self.round(row.phase.cpuMsPerFrame, 2)]
            }
        }
        if let loadBefore { object["load_before"] = Self.round(loadBefore, 2) }
        if let loadAfter { object["load_after"] = Self.round(loadAfter, 2) }
        return object
    }

    static func round(_ v: Double, _ digits: Int) -> Double {
        let p = pow(10.0, Double(digits))
        return (v * p).rounded() / p
    }
}

/// The full pipeline with the network on every Nth frame (nil: auto).
public struct ScheduleRow: Sendable {
    public let inferEvery: Int?
    public var phase = BenchmarkPhase(runs: [], cpuLoad: [])
    public var networkRunsPerSecond: [Double] = []
    public var label: String { inferEvery.map { "N=\($0)" } ?? "auto" }
}

/// Measures, in one process and in turn: (a) the runner alone on frames decoded beforehand and
/// kept in memory, (b) decode + encode with no network, (c) the full pipeline, each `repeats` times.
public enum Benchmark {
    public static func run(_ options: BenchmarkOptions,
                           log: (String) -> Void = { _ in }) throws(EPRError) -> BenchmarkResult {
        guard let modelPath = options.settings.modelPath else {
            throw EPRError(.model, "no model given (use --model PATH)")
        }
        guard options.frames > 0 else { throw EPRError(.config, "--frames must be positive, got \(options.frames)") }
        guard options.repeats > 0 else { throw EPRError(.config, "--repeats must be positive, got \(options.repeats)") }
        let settings = options.settings
        let loadBefore = loadAverage()
        let started = Date()

        // (a) The runner alone: decode first, keep the frames, then time submit/drain only.
        log("decoding \(options.frames) frames ...")
        var sourceOptions = SourceOptions()
        sourceOptions.decoderThreads = settings.decoderThreads
        sourceOptions.videoOnly = true
        let source = try MediaSource(url: options.input, options: sourceOptions)
        var frames: [VideoFrame] = []
        frames.reserveCapacity(options.frames)
        while frames.count < options.frames, let item = try source.next() {
            if case .video(let frame) = item { frames.append(frame) }
        }
        let video = source.video
        source.close()
        guard !frames.isEmpty else { throw EPRError(.input, "no video frames in \(options.input)") }
        let n = frames.count

        // Compile once up front to learn the model and input size (and fail early on a bad model).
        let probe = try SegmentationRunner(modelPath: modelPath, frameWidth: video.width, frameHeight: video.height,
                                           options: settings.runnerOptions)
        let model = probe.modelPath
        let inputSize = (probe.inputHeight, probe.inputWidth)
        let engineSettings = probe.engineSettings
        log("model \(URL(fileURLWithPath: model).lastPathComponent) at \(inputSize.0)x\(inputSize.1), "
            + "\(n) frames of \(video.width)x\(video.height), \(options.repeats) repeats")
        var probeHolder: SegmentationRunner? = probe

        let scratch = URL(fileURLWithPath: options.scratchFolder ?? NSTemporaryDirectory())
            .appendingPathComponent("eprstream-bench-\(getpid())-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            throw EPRError(.output, "cannot create \(scratch.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }

        // The repeats interleave (a, b, c, a, b, c, ...) so a load that drifts during the run
        // (another process) skews the three alike.
        var runnerPhase = BenchmarkPhase(runs: [], cpuLoad: [])
        var decodeEncode = BenchmarkPhase(runs: [], cpuLoad: [])
        var pipelinePhase = BenchmarkPhase(runs: [], cpuLoad: [])
        var summaries: [RunSummary] = []
        var scheduleRows = options.schedules.map { ScheduleRow(inferEvery: $0) }
        var pipelineSettings = settings
        pipelineSettings.maxFrames = n
        func fullPipeline(_ settings: PipelineSettings, label: String,
                          into phase: inout BenchmarkPhase) throws(EPRError) -> RunSummary {
            let out = scratch.appendingPathComponent("pipeline-\(UUID().uuidString.prefix(8)).mp4").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            let pipeline = Pipeline(input: options.input, output: out, settings: settings)
            let cpuClock = CPUClock()
            let summary = try pipeline.run(progress: { _ in cpuClock.markIfFirst() })
            let cpu = cpuClock.elapsed()
            phase.runs.append(summary.fps)
            phase.cpuLoad.append(summary.wallSeconds > 0 ? cpu / summary.wallSeconds : 0)
            log(String(format: "%@ %d/%d: %7.2f fps, %6.1f cpu ms/frame", label, phase.runs.count, options.repeats,
                       summary.fps, cpu / Double(max(summary.framesWritten, 1)) * 1000))
            return summary
        }
        for r in 0..<options.repeats {
            // (a) The runner alone on the frames in memory: submit/drain only.
            do {
                let runner: SegmentationRunner
                if let p = probeHolder {
                    runner = p
                    probeHolder = nil
                } else {
                    runner = try SegmentationRunner(modelPath: modelPath, frameWidth: video.width,
                                                    frameHeight: video.height, options: settings.runnerOptions)
                }
                for i in 0..<min(options.warmupFrames, n) { _ = try runner.submit(frames[i]) }
                _ = try runner.drain()
                let (wall, cpu) = try timed { () throws(EPRError) in
                    var done = 0
                    for frame in frames { done += try runner.submit(frame).count }
                    done += try runner.drain().count
                    guard done == n else { throw EPRError(.internalFailure, "runner returned \(done) of \(n) results") }
                }
                runnerPhase.runs.append(Double(n) / wall)
                runnerPhase.cpuLoad.append(cpu / wall)
                log(String(format: "runner alone      %d/%d: %7.2f fps, %6.1f cpu ms/frame", r + 1, options.repeats,
                           Double(n) / wall, cpu / Double(n) * 1000))
            }

            // (b) Decode + encode, no network, one after the other like a plain transcode.
            do {
                let out = scratch.appendingPathComponent("transcode-\(r).mp4").path
                var written = 0
                let (wall, cpu) = try timed { () throws(EPRError) in
                    written = try transcode(options.input, to: out, frames: n, settings: settings)
                }
                decodeEncode.runs.append(Double(written) / wall)
                decodeEncode.cpuLoad.append(cpu / wall)
                log(String(format: "decode + encode   %d/%d: %7.2f fps, %6.1f cpu ms/frame", r + 1, options.repeats,
                           Double(written) / wall, cpu / Double(max(written, 1)) * 1000))
                try? FileManager.default.removeItem(atPath: out)
            }

            // (c) The full pipeline, as `eprstream run` does it (set-up not timed).
            let summary = try fullPipeline(pipelineSettings, label: "full pipeline   ", into: &pipelinePhase)
            summaries.append(summary)
            // The same under each network schedule asked for.
            for i in scheduleRows.indices {
                var scheduled = pipelineSettings
                scheduled.inferAuto = scheduleRows[i].inferEvery == nil
                scheduled.inferEvery = scheduleRows[i].inferEvery ?? 1
                let label = "  " + scheduleRows[i].label.padding(toLength: 14, withPad: " ", startingAt: 0)
                let s = try fullPipeline(scheduled, label: label, into: &scheduleRows[i].phase)
                scheduleRows[i].networkRunsPerSecond.append(s.masks?.runsPerSecond ?? s.fps)
            }
        }
        frames.removeAll()
        let medianSummary = summaries.sorted { $0.fps < $1.fps }[summaries.count / 2]
        let perFrame = Double(max(medianSummary.framesWritten, 1))
        let stageMs = Stage.allCases.map { (stage: $0.rawValue, ms: (medianSummary.busySeconds[$0] ?? 0) / perFrame * 1000) }

        return BenchmarkResult(
            input: options.input, model: model, inputSize: inputSize, frameSize: (video.width, video.height),
            frames: n, repeats: options.repeats, runner: runnerPhase, decodeEncode: decodeEncode,
            pipeline: pipelinePhase, schedules: scheduleRows, stageMsPerFrame: stageMs, engineSettings: engineSettings,
            encoder: "libx264 \(settings.encoderPreset) crf \(settings.encoderCRF)",
            date: started, machine: machineDescription(), loadBefore: loadBefore, loadAfter: loadAverage())
    }

    /// Decodes `frames` video frames of `input` and encodes them to `output`; returns frames written.
    static func transcode(_ input: String, to output: String, frames: Int,
                          settings: PipelineSettings) throws(EPRError) -> Int {
        var sourceOptions = SourceOptions()
        sourceOptions.decoderThreads = settings.decoderThreads
        sourceOptions.videoOnly = true
        let source = try MediaSource(url: input, options: sourceOptions)
        defer { source.close() }
        var sinkOptions = SinkOptions()
        sinkOptions.preset = settings.encoderPreset
        sinkOptions.crf = settings.encoderCRF
        sinkOptions.encoderThreads = settings.encoderThreads
        let sink = try VideoSink(path: output, video: source.video, audio: [], options: sinkOptions)
        var count = 0
        do {
            while count < frames, let item = try source.next() {
                guard case .video(let frame) = item else { continue }
                try sink.write(frame)
                count += 1
            }
            try sink.finish()
        } catch {
            sink.abort()
            throw error
        }
        return sink.framesWritten
    }

    static func timed(_ body: () throws(EPRError) -> Void) throws(EPRError) -> (wall: Double, cpu: Double) {
        let cpu0 = processCPUSeconds()
        let t0 = now()
        try body()
        let wall = now() - t0
        return (max(wall, 1e-9), processCPUSeconds() - cpu0)
    }

    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// User + system CPU seconds of this process (all threads).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first else { return nil }
        return Double(first)
    }

    /// e.g. "2 cores x86-64 AMD EPYC (AVX-512 VNNI/BF16), Debian 12".
    public static func machineDescription() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var cpu = "", flags: Set<Substring> = []
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in info.split(separator: "\n") {
                if cpu.isEmpty, line.hasPrefix("model name"), let v = line.split(separator: ":", maxSplits: 1).last {
                    cpu = v.trimmingCharacters(in: .whitespaces)
                }
                if flags.isEmpty, line.hasPrefix("flags"), let v = line.split(separator: ":", maxSplits: 1).last {
                    flags = Set(v.split(separator: " "))
                }
            }
        }
        var isa: [String] = []
        if flags.contains("avx512f") {
            var extras: [String] = []
            if flags.contains("avx512_vnni") { extras.append("VNNI") }
            if flags.contains("avx512_bf16") { extras.append("BF16") }
            isa.append("AVX-512" + (extras.isEmpty ? "" : " " + extras.joined(separator: "/")))
        } else if flags.contains("avx2") {
            isa.append("AVX2")
        }
        if flags.contains("amx_tile") { isa.append("AMX") }
        var os = ProcessInfo.processInfo.operatingSystemVersionString
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            for line in release.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                os = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        #if arch(x86_64)
        let arch = "x86-64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown arch"
        #endif
        let cpuText = cpu.isEmpty ? "" : " " + cpu
        let isaText = isa.isEmpty ? "" : " (" + isa.joined(separator: ", ") + ")"
        return "\(cores) cores \(arch)\(cpuText)\(isaText), \(os)"
    }
}
