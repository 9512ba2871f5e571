import EPRServer
import Foundation

/// Stages whose time per frame is reported.
public enum Stage: String, CaseIterable, Sendable {
    case decode, preprocess, infer, postprocess, compose, encode
    /// Decode finished -> frame written: what a viewer waits.
    case endToEnd = "end-to-end"
}

/// Counters and per-stage latency histograms, shared by the stage threads.
public final class RunStatistics: @unchecked Sendable {
    private let lock = NSLock()
    private var histograms: [Stage: LatencyHistogram] = [:]
    private var busy: [Stage: Double] = [:]
    private var decoded = 0
    private var written = 0
    private var runs = 0
    /// Masks handed to the compositor by age (frames since the network ran; index 0 = its own).
    private var maskAges: [Int] = []
    private let started = now()
    private var exported: StreamMetrics?

    public init() {}

    /// Where the counters and latencies also go (Prometheus, with the HTTP server); set before the run.
    public var metrics: StreamMetrics? {
        get { lock.withLock { exported } }
        set { lock.withLock { exported = newValue } }
    }

    func record(_ stage: Stage, _ seconds: Double) {
        lock.lock()
        histograms[stage, default: LatencyHistogram()].record(seconds)
        busy[stage, default: 0] += seconds
        let metrics = exported
        lock.unlock()
        metrics?.latency(stage.rawValue, seconds: seconds)
    }

    func frameDecoded() { lock.lock(); decoded += 1; let m = exported; lock.unlock(); m?.frameIn() }
    func frameWritten() { lock.lock(); written += 1; let m = exported; lock.unlock(); m?.frameOut() }

    /// A network result came back (with `--infer-every auto`, usually for an earlier frame).
    func networkRan() { lock.lock(); runs += 1; lock.unlock() }

    func maskDelivered(age: Int) {
        lock.lock(); defer { lock.unlock() }
        if maskAges.count <= age { maskAges += [Int](repeating: 0, count: age + 1 - maskAges.count) }
        maskAges[age] += 1
    }

    /// Network runs whose result was used.
    public var networkRuns: Int { lock.lock(); defer { lock.unlock() }; return runs }

    /// Frames whose mask the network made, and frames that got one carried from an earlier frame.
    public var framesInferred: Int { lock.lock(); defer { lock.unlock() }; return maskAges.first ?? 0 }
    public var framesCarried: Int { lock.lock(); defer { lock.unlock() }; return maskAges.dropFirst().reduce(0, +) }

    /// The median mask age in frames (nearest rank), nil before any mask.
    public var maskAgeMedian: Int? {
        lock.lock(); defer { lock.unlock() }
        let total = maskAges.reduce(0, +)
        guard total > 0 else { return nil }
        var seen = 0
        for (age, count) in maskAges.enumerated() {
            seen += count
            if 2 * seen >= total { return age }
        }
        return maskAges.count - 1
    }

    public var framesDecoded: Int { lock.lock(); defer { lock.unlock() }; return decoded }
    public var framesWritten: Int { lock.lock(); defer { lock.unlock() }; return written }
    public var elapsed: Double { now() - started }

    public func histogram(_ stage: Stage) -> LatencyHistogram {
        lock.lock(); defer { lock.unlock() }
        return histograms[stage] ?? LatencyHistogram()
    }

    /// Total seconds a stage was busy (sum of its per-frame times).
    public func busySeconds(_ stage: Stage) -> Double {
        lock.lock(); defer { lock.unlock() }
        return busy[stage] ?? 0
    }
}

/// Frames per second over a sliding window of recent frames (what the overlay shows).
struct RateMeter {
    private var times: [Double] = []
    private let window: Int

    init(window: Int = 30) { self.window = window; times.reserveCapacity(window) }

    mutating func tick(at time: Double) -> Double {
        if times.count == window { times.removeFirst() }
        times.append(time)
        guard times.count > 1, let first = times.first, time > first else { return 0 }
        return Double(times.count - 1) / (time - first)
    }
}
