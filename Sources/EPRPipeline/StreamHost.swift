import EPRCore
import EPRInference
import EPRMedia
import EPRServer
import Foundation
import Logging
import Synchronization

/// One stream of `eprstream serve`: its pipeline on its own thread (with its own runner on the
/// shared model), its logger, and what the API tells of it. Thread-safe: `state` is a Mutex.
public final class ServedStream: Sendable {
    public enum Phase: String, Sendable {
        /// Opening the input (a camera that is down keeps a stream here until it answers).
        case starting
        case running
        /// Stop asked (DELETE, SIGTERM): frames in flight finish, the output is finalised.
        case stopping
        /// The input ended (a file) or the stream was stopped; its output is complete.
        case finished
        case failed
    }

    private struct State: Sendable {
        var phase = Phase.starting
        var snapshot: ProgressSnapshot?
        /// (time, frames in, frames out), a few seconds of them, for the rates.
        var samples: [(Double, Int, Int)] = []
        var error: String?
        var summary: RunSummary?
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    public let entry: StreamEntry
    public let pipeline: Pipeline
    public let logger: Logger
    private let state = Mutex(State())

    init(entry: StreamEntry, pipeline: Pipeline, logger: Logger) {
        self.entry = entry
        self.pipeline = pipeline
        self.logger = logger
    }

    public var id: String { entry.id }
    public var phase: Phase { state.withLock { $0.phase } }

    /// Runs the pipeline on a thread of its own until its input ends or `stop()`.
    func start() {
        pipeline.onStarted = { [self] in
            state.withLock { if $0.phase == .starting { $0.phase = .running } }
            logger.notice("started: \(entry.input) -> \(destinations)")
        }
        let thread = Thread { [self] in
            let outcome: Result<RunSummary, EPRError>
            do throws(EPRError) { outcome = .success(try pipeline.run { snapshot in self.observe(snapshot) }) } catch {
                outcome = .failure(error)
            }
            let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                switch outcome {
                case .success(let summary): s.summary = summary; s.phase = .finished
                case .failure(let error): s.error = error.message; s.phase = s.phase == .stopping ? .finished : .failed
                }
                defer { s.waiting = [] }
                return s.waiting
            }
            switch outcome {
            case .success(let summary):
                logger.notice("\(summary.interrupted ? "stopped" : "finished"): \(summary.framesWritten) frames -> \(summary.output)")
            case .failure(let error):
                logger.error("failed: \(error.message)")
            }
            waiting.forEach { $0.resume() }
        }
        thread.name = "eprstream-stream-\(entry.id)"
        thread.start()
    }

    /// Stops the stream and returns once its output is finalised.
    func stop() async {
        state.withLock { if $0.phase == .starting || $0.phase == .running { $0.phase = .stopping } }
        pipeline.stop()
        await finished()
    }

    func finished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.phase == .finished || s.phase == .failed { return true }
                s.waiting.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    private func observe(_ snapshot: ProgressSnapshot) {
        let t = now(), stats = pipeline.statistics
        state.withLock { s in
            s.snapshot = snapshot
            s.samples.append((t, stats.framesDecoded, stats.framesWritten))
            s.samples.removeAll { t - $0.0 > 3 }
        }
    }

    private var destinations: String {
        ([entry.output] + [entry.preview ? pipeline.previewPath : nil]).compactMap { $0 }.joined(separator: " and ")
    }

    /// What `GET /api/streams/ID` answers (see the README for the keys).
    public func status() -> [String: Any] {
        let stats = pipeline.statistics
        let t = now(), framesIn = stats.framesDecoded, framesOut = stats.framesWritten
        let s = state.withLock { $0 }
        var state: String = s.phase.rawValue
        if s.phase == .running {
            state = s.snapshot?.live?.state.rawValue ?? (isLiveURL(entry.input) ? "live" : "running")
        }
        // Rates over the last few seconds: from the oldest sample kept to the counters now.
        var fpsIn = 0.0, fpsOut = 0.0
        if s.phase == .running, let first = s.samples.first, t - first.0 > 0.2 {
            fpsIn = Double(framesIn - first.1) / (t - first.0)
            fpsOut = Double(framesOut - first.2) / (t - first.0)
        }
        func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        var object: [String: Any] = [
            "id": entry.id, "input": entry.input, "state": state,
            "frames_in": framesIn, "frames_out": framesOut,
            "fps_in": rounded(fpsIn), "fps_out": rounded(fpsOut),
            "dropped": s.snapshot?.dropped ?? 0,
            "reconnects": s.snapshot?.live?.reconnects ?? 0,
            "stalls": s.snapshot?.live?.stalls ?? 0,
            "offline_frames": s.snapshot?.live?.offlineFrames ?? 0,
            "queues": s.snapshot?.queueDepths ?? [:],
            "mask_age": stats.maskAgeMedian.map { $0 as Any } ?? NSNull(),
            "output": entry.output.map { $0 as Any } ?? NSNull(),
            "preview": entry.preview ? pipeline.previewPath : NSNull(),
        ]
        if let error = s.error, s.phase == .failed { object["error"] = error }
        return object
    }
}

/// The streams of `eprstream serve`, all on one compiled model (each with its own runner and
/// its own requests on it, so a camera that stalls holds none of the others' requests and takes
/// no turn on the engine: OpenVINO serves the requests started by every stream in turn), on one
/// HTTP server (previews at /streams/ID/, metrics labelled `stream`), added and removed at run
/// time through the API. Thread-safe: the stream list is a Mutex.
public final class StreamHost: StreamDirectory {
    public let model: CompiledSegmentationModel
    private let modelPath: String
    private let http: HTTPServer
    private let metrics: MetricsRegistry
    private let makeLogger: @Sendable (String) -> Logger
    private let streams = Mutex<[ServedStream]>([])

    public init(model: CompiledSegmentationModel, modelPath: String, http: HTTPServer, metrics: MetricsRegistry,
                logger: @escaping @Sendable (String) -> Logger) {
        self.model = model
        self.modelPath = modelPath
        self.http = http
        self.metrics = metrics
        makeLogger = logger
    }

    /// Starts a stream; nil when its id is taken.
    @discardableResult
    public func start(_ entry: StreamEntry) -> ServedStream? {
        var settings = entry.settings
        settings.modelPath = modelPath
        let pipeline = Pipeline(input: entry.input, output: entry.output, settings: settings, model: model)
        pipeline.sharedHTTP = Pipeline.SharedHTTP(server: http, metrics: metrics, preview: entry.preview)
        let logger = makeLogger(entry.id)
        pipeline.log = { logger.notice("\($0)") }
        let stream = ServedStream(entry: entry, pipeline: pipeline, logger: logger)
        let added = streams.withLock { list -> Bool in
            guard !list.contains(where: { $0.id == entry.id }) else { return false }
            list.append(stream)
            return true
        }
        guard added else { return nil }
        stream.start()
        return stream
    }

    public var all: [ServedStream] { streams.withLock { $0 } }

    /// Every stream got past opening its input (or ended cleanly).
    public var allStarted: Bool {
        all.allSatisfy { $0.phase == .running || $0.phase == .finished }
    }

    /// Stops every stream at once and returns when each output is finalised.
    public func stopAll() async {
        await withTaskGroup(of: Void.self) { group in
            for stream in all { group.addTask { await stream.stop() } }
        }
    }

    // MARK: StreamDirectory

    public func list() -> APIAnswer { APIAnswer(status: 200, object: all.map { $0.status() }) }

    public func status(of id: String) -> APIAnswer? {
        all.first { $0.id == id }.map { APIAnswer(status: 200, object: $0.status()) }
    }

    public func add(json body: String) async -> APIAnswer {
        let entry: StreamEntry
        do throws(ConfigFieldError) { entry = try StreamEntry.parse(json: body) } catch {
            // A body that is no JSON object is a bad request; a bad field in one is unprocessable.
            return .error(error.field.isEmpty ? 400 : 422, error.message, field: error.field)
        }
        guard let stream = start(entry) else {
            return .error(409, "a stream with id '\(entry.id)' exists already", field: "id")
        }
        return APIAnswer(status: 201, object: stream.status())
    }

    public func remove(_ id: String) async -> APIAnswer? {
        guard let stream = all.first(where: { $0.id == id }) else { return nil }
        await stream.stop()
        streams.withLock { $0.removeAll { $0 === stream } }
        return APIAnswer(status: 200, object: stream.status())
    }
}
