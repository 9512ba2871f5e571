import EPRCore
import EPRPipeline
import Foundation

/// Messages to the user: errors on one line with a non-zero exit, warnings, and the summary.
enum Terminal {
    /// Exit codes by failure kind (sysexits.h), so scripts can tell bad input from a bad model.
    static func exitCode(for kind: EPRError.Kind) -> Int32 {
        switch kind {
        case .config: return 64        // EX_USAGE
        case .codec, .dataset: return 65 // EX_DATAERR
        case .input: return 66         // EX_NOINPUT
        case .stream: return 69        // EX_UNAVAILABLE
        case .internalFailure: return 70 // EX_SOFTWARE
        case .output: return 73        // EX_CANTCREAT
        case .model: return 78         // EX_CONFIG
        }
    }

    static func fail(_ error: EPRError) -> Never {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        exit(exitCode(for: error.kind))
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    /// A live-run event (connection, reconnect, stall, back-pressure), timestamped, on stderr.
    static func note(_ message: String) {
        let stamp = String(format: "%.2f", Date().timeIntervalSince(startTime))
        let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write(Data("\(clear)live [\(stamp) s]: \(message)\n".utf8))
    }

    static let startTime = Date()

    /// The summary goes to stdout, or to stderr when stdout carries the video (`-o -`).
    static func printSummary(_ s: RunSummary, toStandardError: Bool = false) {
        var lines: [String] = []
        lines.append("\(s.interrupted ? "interrupted" : "done"): \(s.framesWritten) frames -> \(s.output)")
        lines.append(String(format: "time %.2f s, %.1f fps end to end, model %@ at %dx%d, dropped %d",
                            s.wallSeconds, s.fps, (s.model as NSString).lastPathComponent,
                            s.inputSize.height, s.inputSize.width, s.framesDropped))
        if let preview = s.preview {
            lines.append("preview: \(preview.viewers) viewer(s) served at \(preview.url), \(preview.frames) frames encoded for them")
        }
        if let live = s.live {
            lines.append(String(format: "live: %d frames received, %d dropped (back-pressure), %d reconnects, %d stalls, %d offline frames",
                                live.framesReceived, s.framesDropped, live.reconnects, live.stalls, live.offlineFrames)
                + (live.lateFrames > 0 ? ", \(live.lateFrames) late frames skipped" : "")
                + (live.outputReconnects > 0 ? ", \(live.outputReconnects) output reconnects (\(live.framesNotSent) frames not sent)" : ""))
            var timing = ["frame queue depth max \(live.frameQueueMaxDepth)/\(live.frameQueueCapacity)"]
            if let first = live.firstFrameSeconds { timing.append(String(format: "first annotated frame after %.2f s", first)) }
            if !live.reconnectSeconds.isEmpty {
                timing.append("reconnected after " + live.reconnectSeconds.map { String(format: "%.2f s", $0) }.joined(separator: ", "))
            }
            if let g = live.glassToGlass {
                timing.append(String(format: "glass-to-glass p50 %.0f ms, p95 %.0f ms", g.percentile(0.5) * 1000, g.percentile(0.95) * 1000))
            } else {
                timing.append("glass-to-glass unknown (no usable RTCP sender reports from the camera)")
            }
            if !timing.isEmpty { lines.append("live: " + timing.joined(separator: "; ")) }
        }
        if let m = s.masks {
            let how = ["mv": "carried by motion vectors", "bidirectional": "carried by motion vectors from the nearer inferred frame"][m.propagation]
                ?? "reused unchanged"
            let schedule = m.inferEvery.map { $0 == 1 ? "on every frame" : "on every \($0) frames" } ?? "auto"
            lines.append("masks: network \(schedule) (infer \(String(format: "%.1f", m.runsPerSecond))/s, \(m.runs) runs): "
                + "\(m.inferred) inferred, \(m.carried) \(how), mask age p50 \(m.ageMedian) frames"
                + (m.smoothing > 1 ? ", smoothed over \(m.smoothing)" : ""))
        }
        lines.append("stage          p50 ms   p95 ms   busy s")
        for stage in Stage.allCases {
            guard let h = s.latencies[stage], h.count > 0 else { continue }
            lines.append(stage.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: " %8.2f %8.2f %8.2f", h.percentile(0.5) * 1000, h.percentile(0.95) * 1000,
                         s.busySeconds[stage] ?? 0))
        }
        let text = lines.joined(separator: "\n")
        if toStandardError { FileHandle.standardError.write(Data((text + "\n").utf8)) } else { print(text) }
    }
}

/// Progress on stderr: a bar with ETA on a terminal, plain periodic lines otherwise (logs, CI).
final class ProgressPrinter: @unchecked Sendable {
    private let enabled: Bool
    private let isTTY = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var lastLine = 0.0
    private var drewBar = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: ProgressSnapshot) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let text: String
        var head = "\(p.framesWritten)"
        var eta = ""
        if let total = p.estimatedTotal, total > 0 {
            head += "/\(total)"
            if p.fps > 0 { eta = " ETA " + Self.clock(Double(max(0, total - p.framesWritten)) / p.fps) }
        }
        var drops = p.dropped > 0 ? " dropped \(p.dropped)" : ""
        if let live = p.live {
            let depth = p.queueDepths["frames"].map { " queue \($0)" } ?? ""
            drops = " [\(live.state.rawValue)] dropped \(p.dropped) reconnects \(live.reconnects)\(depth)"
                + (live.offlineFrames > 0 ? " offline frames \(live.offlineFrames)" : "")
        }
        if isTTY {
            var bar = ""
            if let total = p.estimatedTotal, total > 0 {
                let filled = min(30, 30 * p.framesWritten / total)
                bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            }
            text = "\r\(bar)\(head) frames \(String(format: "%.1f", p.fps)) fps\(eta)\(drops)\u{1B}[K"
            drewBar = true
        } else {
            guard p.elapsed - lastLine >= 2 else { return }
            lastLine = p.elapsed
            text = "progress: \(head) frames, \(String(format: "%.1f", p.fps)) fps\(eta)\(drops)\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if drewBar { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Ctrl-C, SIGTERM (docker stop, systemd, Kubernetes) and SIGHUP ask the pipeline to stop
/// cleanly (the output is finalised); a second signal quits at once. The run then exits
/// 128 + the first signal's number, so scripts can tell it from a complete run.
final class InterruptHandler: @unchecked Sendable {   // `first` is only touched under `lock`
    private static let signals = [SIGINT, SIGTERM, SIGHUP]
    private let sources: [DispatchSourceSignal]
    private let lock = NSLock()
    private var first: Int32?

    init(onInterrupt: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "eprstream.signals")
        sources = Self.signals.map { signo in
            signal(signo, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: signo, queue: queue)
        }
        for (source, signo) in zip(sources, Self.signals) {
            source.setEventHandler { [unowned self] in received(signo, onInterrupt) }
            source.resume()
        }
    }

    /// The first signal received, if any.
    var signalReceived: Int32? { lock.lock(); defer { lock.unlock() }; return first }

    private func received(_ signo: Int32, _ onInterrupt: @Sendable () -> Void) {
        lock.lock(); let earlier = first; if earlier == nil { first = signo }; lock.unlock()
        if earlier != nil { exit(128 + signo) }
        if signo == SIGINT {
            Terminal.warn("interrupted: finishing the output (Ctrl-C again to quit at once)")
        } else {
            Terminal.warn("\(signo == SIGTERM ? "SIGTERM" : "SIGHUP") received: finishing the output (a second signal quits at once)")
        }
        onInterrupt()
    }

    func restore() {
        for (source, signo) in zip(sources, Self.signals) {
            source.cancel()
            signal(signo, SIG_DFL)
        }
    }
}

/// Finds shipped models (see `ShippedModels`) next to the executable's package, then in the
/// current directory.
enum ModelLocator {
    /// `value` as given when it names a file, else the shipped model of that name; the shipped
    /// EPRNet when nothing is given.
    static func resolve(_ value: String?) throws(EPRError) -> String {
        guard let value else { return try ShippedModels.locate(ShippedModels.defaultName, roots: roots()) }
        let looksLikeAFile = value.contains("/") || value.hasSuffix(".xml") || value.hasSuffix(".onnx")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: value, isDirectory: &isDirectory), isDirectory.boolValue {
            throw EPRError(.model, "--model \(value) is a directory: give a model file (.xml or .onnx) or a shipped model's name")
        }
        if looksLikeAFile || FileManager.default.fileExists(atPath: value) { return value }
        return try ShippedModels.locate(value, roots: roots())   // a shipped name, or "unknown model"
    }

    private static func roots() -> [URL] {
        var roots: [URL] = []
        if let env = ProcessInfo.processInfo.environment["EPRSTREAM_HOME"] { roots.append(URL(fileURLWithPath: env)) }
        // The executable lives somewhere under the package (.build/.../release/eprstream).
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" {
            roots.append(folder)
            folder = folder.deletingLastPathComponent()
        }
        roots.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return roots
    }
}
