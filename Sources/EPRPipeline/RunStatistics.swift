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
    private let started = now()

    public init() {}

    func record(_ stage: Stage, _ seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        histograms[stage, default: LatencyHistogram()].record(seconds)
        busy[stage, default: 0] += seconds
    }

    func frameDecoded() { lock.lock(); decoded += 1; lock.unlock() }
    func frameWritten() { lock.lock(); written += 1; lock.unlock() }

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
