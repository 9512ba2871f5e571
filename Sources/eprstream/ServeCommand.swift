import ArgumentParser
import EPRCore
import EPRInference
import EPRMedia
import EPRPipeline
import EPRServer
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run several streams in one process on one compiled model, with an HTTP API, previews and metrics."
    )

    @Option(help: ArgumentHelp("The streams and the HTTP address (YAML; see the README for the keys).", valueName: "FILE"))
    var config: String

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Log lines on stderr from this level up: trace, debug, info, notice (default: each stream's events), warning, error, critical.", valueName: "LEVEL"))
    var logLevel: String?

    func run() throws {
        FFmpegLog.quiet()
        _ = Terminal.startTime
        do throws(EPRError) {
            let config = try ServeConfig.load(file: config)
            let level = try logLevel.map { text throws(EPRError) in try StderrLogHandler.level(text) } ?? .notice
            let signal = try serve(config, level: level)
            if let signal { Foundation.exit(128 + signal) }   // every output finalised, but stopped by a signal
        } catch {
            Terminal.fail(error)
        }
    }

    /// Serves until SIGINT, SIGTERM or SIGHUP; returns the signal once every stream's output is finalised.
    private func serve(_ config: ServeConfig, level: Logger.Level) throws(EPRError) -> Int32? {
        let modelPath = try ModelLocator.resolve(config.model)
        LoggingSystem.bootstrap { StderrLogHandler(label: $0, logLevel: level, tagsStreams: true) }
        var httpLogger = Logger(label: "eprstream.http")
        httpLogger.logLevel = level <= .debug ? level : .critical

        // The server answers first (/healthz, /readyz 503) while the model compiles.
        let http = try HTTPServer(host: config.host, port: config.port, name: "the serve API", logger: httpLogger)
        defer { http.shutdown() }
        let metrics = MetricsRegistry()
        let hosted = Mutex<StreamHost?>(nil)
        http.routes.registerOperations(metrics: metrics, ready: { hosted.withLock { $0 }?.allStarted ?? false })

        var settings = PipelineSettings()
        settings.modelPath = modelPath
        settings.inputHeight = config.inputSize?.height
        settings.inputWidth = config.inputSize?.width
        // One compile for every stream: the network size is the config's input_size, else the
        // default for 16:9 frames (360x640); each stream's frames are resized to it.
        let model = try CompiledSegmentationModel(modelPath: modelPath, frameWidth: 640, frameHeight: 360,
                                                  options: settings.runnerOptions)
        let host = StreamHost(model: model, modelPath: modelPath, http: http, metrics: metrics) { id in
            var logger = Logger(label: "eprstream.stream")
            logger[metadataKey: "stream"] = .string(id)
            return logger
        }
        http.routes.registerStreamAPI(host)
        hosted.withLock { $0 = host }
        for entry in config.streams { host.start(entry) }
        Terminal.note("serving \(config.streams.count) stream(s) at \(http.baseURL) (model \((modelPath as NSString).lastPathComponent) at \(model.inputHeight)x\(model.inputWidth))")

        return Lifecycle.runUntilSignal(host: host)
    }
}

/// SIGINT, SIGTERM and SIGHUP through swift-service-lifecycle: the first starts a graceful
/// shutdown of the service group, whose one service stops every stream and waits until each
/// output is finalised; a second signal quits at once. The first signal's number is kept for the
/// exit code (128 + N, as `run`).
enum Lifecycle {
    static let signals: [UnixSignal] = [.sigint, .sigterm, .sighup]

    /// The streams: running until the group shuts down gracefully, then stopped and finalised.
    struct StreamsService: Service {
        let host: StreamHost
        func run() async throws {
            try? await gracefulShutdown()   // or cancelled: the streams are stopped either way
            await host.stopAll()
        }
    }

    static func runUntilSignal(host: StreamHost) -> Int32? {
        let record = FirstSignal()
        let done = DispatchSemaphore(value: 0)
        var logger = Logger(label: "eprstream.lifecycle")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [StreamsService(host: host)], gracefulShutdownSignals: signals, cancellationSignals: [], logger: logger))
        Task {
            // Which signal it was (the group acts on it; this only tells it and keeps its number).
            let watched = await UnixSignalsSequence(trapping: signals)
            Task {
                for await signal in watched {
                    let earlier = record.number.withLock { seen -> Int32? in
                        defer { if seen == nil { seen = signal.rawValue } }
                        return seen
                    }
                    if earlier != nil { exit(128 + signal.rawValue) }
                    Terminal.warn("\(signal) received: finishing every stream's output (a second signal quits at once)")
                }
            }
            do { try await group.run() } catch { Terminal.warn("service group: \(error)") }
            done.signal()
        }
        done.wait()
        return record.number.withLock { $0 }
    }

    /// The first signal's number, kept from the watching task for the exit code.
    final class FirstSignal: Sendable {
        let number = Mutex<Int32?>(nil)
    }
}
